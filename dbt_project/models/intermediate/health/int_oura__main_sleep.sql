{#- The main sleep session of each (account, day): the `long_sleep` session if there is one,
    else the longest session (most sleep, then most time in bed); among several long_sleep
    sessions, the longest. Deleted sessions never reach this model (staging drops them).
    Remaining ties: the later bedtime, then the higher id, so the choice is deterministic.
    `sleep_sessions` counts every (non-deleted) session of the day. -#}
with

sessions as (

    select * from {{ ref('stg_oura__sleep') }}

),

ranked as (

    select
        sessions.*,
        row_number() over (
            partition by account, day
            order by
                case when sleep_type = 'long_sleep' then 0 else 1 end,
                coalesce(total_sleep_seconds, -1) desc,
                coalesce(time_in_bed_seconds, -1) desc,
                bedtime_start_at desc nulls last,
                sleep_id desc
        ) as session_rank,
        count(*) over (partition by account, day) as sleep_sessions
    from sessions

),

final as (

    select
        account,
        day,
        sleep_id,
        sleep_type,
        bedtime_start_at,
        bedtime_end_at,
        total_sleep_seconds,
        deep_sleep_seconds,
        rem_sleep_seconds,
        light_sleep_seconds,
        awake_seconds,
        time_in_bed_seconds,
        efficiency_percent,
        latency_seconds,
        average_heart_rate,
        lowest_heart_rate,
        average_hrv,
        average_breath,
        cast(sleep_sessions as integer) as sleep_sessions
    from ranked
    where session_rank = 1

)

select * from final
