{#- Oura sleep sessions, renamed and typed only: one row per (account, session id), several
    per day. Sessions the user deleted (type 'deleted') are not sleep and are dropped here,
    once, for every model downstream. Durations in seconds, bedtimes as UTC instants. -#}
with

source as (

    select * from {{ source('oura', 'oura_sleep') }}
    where type is null or lower(type) <> 'deleted'

),

renamed as (

    select
        account,
        id as sleep_id,
        day,
        lower(type) as sleep_type,
        bedtime_start as bedtime_start_at,
        bedtime_end as bedtime_end_at,
        cast(total_sleep_duration as integer) as total_sleep_seconds,
        cast(deep_sleep_duration as integer) as deep_sleep_seconds,
        cast(rem_sleep_duration as integer) as rem_sleep_seconds,
        cast(light_sleep_duration as integer) as light_sleep_seconds,
        cast(awake_time as integer) as awake_seconds,
        cast(time_in_bed as integer) as time_in_bed_seconds,
        cast(efficiency as integer) as efficiency_percent,
        cast(latency as integer) as latency_seconds,
        cast(average_heart_rate as double) as average_heart_rate,
        cast(lowest_heart_rate as integer) as lowest_heart_rate,
        cast(average_hrv as integer) as average_hrv,
        cast(average_breath as double) as average_breath,
        timezone_offset,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
