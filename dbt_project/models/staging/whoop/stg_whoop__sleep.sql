{#- WHOOP sleeps, renamed and typed only: one row per (account, sleep id), naps included.
    Durations in seconds (WHOOP sends milliseconds); `day` is the wake-up day: the local
    date of the sleep's end at its own `timezone_offset` (UTC when WHOOP sent none). -#}
with

source as (

    select * from {{ source('whoop', 'whoop_sleep') }}

),

renamed as (

    select
        account,
        id as sleep_id,
        cycle_id,
        v1_id,
        start as sleep_start_at,
        {{ adapter.quote('end') }} as sleep_end_at,
        timezone_offset,
        {{ local_date(adapter.quote('end'), "coalesce(timezone_offset, '+00:00')") }} as day,
        coalesce(nap, false) as is_nap,
        upper(score_state) as score_state,
        {{ whoop_seconds('score.stage_summary.total_in_bed_time_milli') }} as time_in_bed_seconds,
        {{ whoop_seconds('score.stage_summary.total_awake_time_milli') }} as awake_seconds,
        {{ whoop_seconds('score.stage_summary.total_light_sleep_time_milli') }} as light_sleep_seconds,
        {{ whoop_seconds('score.stage_summary.total_slow_wave_sleep_time_milli') }} as deep_sleep_seconds,
        {{ whoop_seconds('score.stage_summary.total_rem_sleep_time_milli') }} as rem_sleep_seconds,
        {{ whoop_seconds(
            'score.stage_summary.total_light_sleep_time_milli'
            ~ ' + score.stage_summary.total_slow_wave_sleep_time_milli'
            ~ ' + score.stage_summary.total_rem_sleep_time_milli'
        ) }} as total_sleep_seconds,
        cast(score.respiratory_rate as double) as respiratory_rate,
        cast(score.sleep_performance_percentage as double) as sleep_performance_percent,
        cast(score.sleep_consistency_percentage as double) as sleep_consistency_percent,
        cast(score.sleep_efficiency_percentage as double) as sleep_efficiency_percent,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
