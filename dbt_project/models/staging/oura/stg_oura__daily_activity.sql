{#- Oura daily activity documents, renamed and typed only: one row per (account, document
    id). Calories in kcal. -#}
with

source as (

    select * from {{ source('oura', 'oura_daily_activity') }}

),

renamed as (

    select
        account,
        id as daily_activity_id,
        day,
        cast(score as integer) as activity_score,
        cast(steps as integer) as steps,
        cast(active_calories as integer) as active_calories,
        cast(total_calories as integer) as total_calories,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
