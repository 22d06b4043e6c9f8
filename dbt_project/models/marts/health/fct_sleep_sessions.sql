{#- Every sleep of every health source, naps included: one row per (account, source,
    sleep_id), canonical units (int_health__sleep_sessions), `day` the wake-up day.
    Incremental like daily_health: each account's sessions from its newest day minus
    health_lookback_days are deleted (pre-hook) and recomputed, so a session deleted
    upstream leaves the mart. -#}
{{ config(
    unique_key=['account', 'source', 'sleep_id'],
    pre_hook="{{ health_delete_window_hook() }}",
) }}

with

sessions as (

    select * from {{ ref('int_health__sleep_sessions') }}
    where {{ health_incremental_window('day') }}

),

final as (

    select
        account,
        cast(year(day) as integer) as year,
        cast(month(day) as integer) as month,
        source,
        cast(sleep_id as {{ string_type() }}) as sleep_id,
        day,
        sleep_type,
        is_main_sleep,
        is_nap,
        cast(sleep_start_utc as {{ health_type('timestamp') }}) as sleep_start_utc,
        cast(sleep_end_utc as {{ health_type('timestamp') }}) as sleep_end_utc,
        timezone_offset,
        cast(time_in_bed_s as integer) as time_in_bed_s,
        cast(total_sleep_s as integer) as total_sleep_s,
        cast(deep_s as integer) as deep_s,
        cast(rem_s as integer) as rem_s,
        cast(light_s as integer) as light_s,
        cast(awake_s as integer) as awake_s,
        cast(latency_s as integer) as latency_s,
        cast(sleep_efficiency_pct as double) as sleep_efficiency_pct,
        cast(resp_rate as double) as resp_rate,
        cast(avg_hr_bpm as double) as avg_hr_bpm,
        cast(resting_hr_bpm as double) as resting_hr_bpm,
        cast(hrv_rmssd_ms as double) as hrv_rmssd_ms,
        cast(spo2_pct as double) as spo2_pct,
        cast(skin_temp_c as double) as skin_temp_c,
        score_state,
        cast(whoop_sleep_performance_pct as double) as whoop_sleep_performance_pct,
        cast(whoop_recovery_score as double) as whoop_recovery_score,
        whoop_cycle_id,
        run_id,
        recovery_record_id,
        recovery_run_id
    from sessions

)

select * from final
