{#- Oura daily resilience documents, renamed and typed only: one row per (account, document
    id). `level`: limited, adequate, solid, strong, exceptional. -#}
with

source as (

    select * from {{ source('oura', 'oura_daily_resilience') }}

),

renamed as (

    select
        account,
        id as daily_resilience_id,
        day,
        lower(level) as resilience_level,
        cast(contributors.sleep_recovery as double) as sleep_recovery,
        cast(contributors.daytime_recovery as double) as daytime_recovery,
        cast(contributors.stress as double) as stress,
        _fetched_at as fetched_at

    from source

)

select * from renamed
