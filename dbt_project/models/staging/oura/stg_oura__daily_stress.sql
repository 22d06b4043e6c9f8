{#- Oura daily stress documents, renamed and typed only: one row per (account, document id).
    stress_high / recovery_high are seconds; day_summary (restored, normal, stressful) may
    be null. -#}
with

source as (

    select * from {{ source('oura', 'oura_daily_stress') }}

),

renamed as (

    select
        account,
        id as daily_stress_id,
        day,
        cast(stress_high as integer) as stress_high_seconds,
        cast(recovery_high as integer) as recovery_high_seconds,
        lower(day_summary) as day_summary,
        _fetched_at as fetched_at

    from source

)

select * from renamed
