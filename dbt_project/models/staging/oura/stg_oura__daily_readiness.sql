{#- Oura daily readiness documents, renamed and typed only: one row per (account, document
    id). Contributors are 1-100 scores; temperature deviations in degrees Celsius. -#}
with

source as (

    select * from {{ source('oura', 'oura_daily_readiness') }}

),

renamed as (

    select
        account,
        id as daily_readiness_id,
        day,
        cast(score as integer) as readiness_score,
        cast(temperature_deviation as double) as temperature_deviation,
        cast(temperature_trend_deviation as double) as temperature_trend_deviation,
        cast(contributors.activity_balance as integer) as activity_balance,
        cast(contributors.body_temperature as integer) as body_temperature,
        cast(contributors.hrv_balance as integer) as hrv_balance,
        cast(contributors.previous_day_activity as integer) as previous_day_activity,
        cast(contributors.previous_night as integer) as previous_night,
        cast(contributors.recovery_index as integer) as recovery_index,
        cast(contributors.resting_heart_rate as integer) as resting_heart_rate,
        cast(contributors.sleep_balance as integer) as sleep_balance,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
