{#- Every sleep session of both sources in canonical units: one row per (account, source,
    sleep_id), naps included. `day` is the wake-up day (Oura's `day`; WHOOP: the local date
    of the sleep's end). `is_main_sleep` marks the day's main sleep: for Oura the rule of
    int_oura__main_sleep (the long_sleep, else the longest session); for WHOOP the longest
    non-nap sleep (most sleep, then most time in bed, then the later start, then the higher
    id). `is_nap`: WHOOP's own `nap` flag; Oura has none, so every session of the day other
    than its main sleep. WHOOP measures resting heart rate, HRV, SpO2 and skin temperature
    during the sleep its recovery names (`sleep_id`): they are joined on it here, and so is
    the cycle the sleep opens (its `cycle_id`: the day's strain and energy). Oura's vitals
    come from the session itself (lowest and average heart rate, average HRV). -#}
with

oura_sessions as (

    select * from {{ ref('stg_oura__sleep') }}

),

oura_main as (

    select account, sleep_id from {{ ref('int_oura__main_sleep') }}

),

whoop_sleeps as (

    select * from {{ ref('stg_whoop__sleep') }}

),

whoop_recoveries as (

    select * from {{ ref('stg_whoop__recovery') }}

),

whoop_cycles as (

    select * from {{ ref('stg_whoop__cycle') }}

),

oura as (

    select
        oura_sessions.account,
        'oura' as source,
        oura_sessions.sleep_id,
        oura_sessions.day,
        oura_sessions.sleep_type,
        oura_main.sleep_id is not null as is_main_sleep,
        oura_main.sleep_id is null as is_nap,
        oura_sessions.bedtime_start_at as sleep_start_utc,
        oura_sessions.bedtime_end_at as sleep_end_utc,
        oura_sessions.timezone_offset,
        oura_sessions.time_in_bed_seconds as time_in_bed_s,
        oura_sessions.total_sleep_seconds as total_sleep_s,
        oura_sessions.deep_sleep_seconds as deep_s,
        oura_sessions.rem_sleep_seconds as rem_s,
        oura_sessions.light_sleep_seconds as light_s,
        oura_sessions.awake_seconds as awake_s,
        oura_sessions.latency_seconds as latency_s,
        cast(oura_sessions.efficiency_percent as double) as sleep_efficiency_pct,
        oura_sessions.average_breath as resp_rate,
        oura_sessions.average_heart_rate as avg_hr_bpm,
        cast(oura_sessions.lowest_heart_rate as double) as resting_hr_bpm,
        cast(oura_sessions.average_hrv as double) as hrv_rmssd_ms,
        cast(null as double) as spo2_pct,
        cast(null as double) as skin_temp_c,
        cast(null as {{ string_type() }}) as score_state,
        cast(null as double) as whoop_sleep_performance_pct,
        cast(null as double) as whoop_recovery_score,
        cast(null as bigint) as whoop_cycle_id,
        cast(null as double) as whoop_strain,
        cast(null as double) as whoop_cycle_kilojoule,
        oura_sessions.run_id,
        cast(null as {{ string_type() }}) as recovery_record_id,
        cast(null as {{ string_type() }}) as recovery_run_id,
        cast(null as {{ string_type() }}) as cycle_run_id
    from oura_sessions
    left join oura_main
        on oura_sessions.account = oura_main.account
        and oura_sessions.sleep_id = oura_main.sleep_id

),

whoop_ranked as (

    select
        whoop_sleeps.*,
        row_number() over (
            partition by account, day, is_nap
            order by
                coalesce(total_sleep_seconds, -1) desc,
                coalesce(time_in_bed_seconds, -1) desc,
                sleep_start_at desc,
                sleep_id desc
        ) as sleep_rank
    from whoop_sleeps

),

whoop as (

    select
        whoop_ranked.account,
        'whoop' as source,
        whoop_ranked.sleep_id,
        whoop_ranked.day,
        case when whoop_ranked.is_nap then 'nap' else 'sleep' end as sleep_type,
        not whoop_ranked.is_nap and whoop_ranked.sleep_rank = 1 as is_main_sleep,
        whoop_ranked.is_nap,
        whoop_ranked.sleep_start_at as sleep_start_utc,
        whoop_ranked.sleep_end_at as sleep_end_utc,
        whoop_ranked.timezone_offset,
        whoop_ranked.time_in_bed_seconds as time_in_bed_s,
        whoop_ranked.total_sleep_seconds as total_sleep_s,
        whoop_ranked.deep_sleep_seconds as deep_s,
        whoop_ranked.rem_sleep_seconds as rem_s,
        whoop_ranked.light_sleep_seconds as light_s,
        whoop_ranked.awake_seconds as awake_s,
        cast(null as integer) as latency_s,
        whoop_ranked.sleep_efficiency_percent as sleep_efficiency_pct,
        whoop_ranked.respiratory_rate as resp_rate,
        cast(null as double) as avg_hr_bpm,
        whoop_recoveries.resting_heart_rate as resting_hr_bpm,
        whoop_recoveries.hrv_rmssd_ms,
        whoop_recoveries.spo2_percent as spo2_pct,
        whoop_recoveries.skin_temp_celsius as skin_temp_c,
        whoop_ranked.score_state,
        whoop_ranked.sleep_performance_percent as whoop_sleep_performance_pct,
        whoop_recoveries.recovery_score as whoop_recovery_score,
        whoop_ranked.cycle_id as whoop_cycle_id,
        whoop_cycles.strain as whoop_strain,
        whoop_cycles.kilojoule as whoop_cycle_kilojoule,
        whoop_ranked.run_id,
        cast(whoop_recoveries.cycle_id as {{ string_type() }}) as recovery_record_id,
        whoop_recoveries.run_id as recovery_run_id,
        whoop_cycles.run_id as cycle_run_id
    from whoop_ranked
    left join whoop_recoveries
        on whoop_ranked.account = whoop_recoveries.account
        and whoop_ranked.sleep_id = whoop_recoveries.sleep_id
    left join whoop_cycles
        on whoop_ranked.account = whoop_cycles.account
        and whoop_ranked.cycle_id = whoop_cycles.cycle_id

),

final as (

    select * from oura
    union all
    select * from whoop

)

select * from final
