{#- Oura daily sleep documents, renamed and typed only: one row per (account, document id).
    The contributors are 1-100 scores (not durations). -#}
with

source as (

    select * from {{ source('oura', 'oura_daily_sleep') }}

),

renamed as (

    select
        account,
        id as daily_sleep_id,
        day,
        cast(score as integer) as sleep_score,
        cast(contributors.deep_sleep as integer) as deep_sleep,
        cast(contributors.efficiency as integer) as efficiency,
        cast(contributors.latency as integer) as latency,
        cast(contributors.rem_sleep as integer) as rem_sleep,
        cast(contributors.restfulness as integer) as restfulness,
        cast(contributors.timing as integer) as timing,
        cast(contributors.total_sleep as integer) as total_sleep,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
