{#- One row per Oura account and day: the seed's daily_health (resilience, sleep and
    readiness scores with their contributors, average awake / rest heart rate) plus the
    main sleep session's real durations, daily stress, activity and SpO2.

    The calendar is every (account, day) that has a document in any of the six daily
    endpoints; each endpoint contributes its latest document of the day (or NULLs).
    Incremental MERGE on (account, day): each run recomputes every day from each account's
    newest day minus health_lookback_days; the pre-hook first deletes that window, so a day
    whose every input disappeared from bronze disappears here too (health_rules.sql). -#}
{{ config(
    unique_key=['account', 'day'],
    pre_hook="{{ health_delete_window_hook() }}",
) }}

with

daily_sleep as (

    {{ health_latest_document('stg_oura__daily_sleep', 'daily_sleep_id') }}

),

daily_readiness as (

    {{ health_latest_document('stg_oura__daily_readiness', 'daily_readiness_id') }}

),

daily_resilience as (

    {{ health_latest_document('stg_oura__daily_resilience', 'daily_resilience_id') }}

),

daily_stress as (

    {{ health_latest_document('stg_oura__daily_stress', 'daily_stress_id') }}

),

daily_activity as (

    {{ health_latest_document('stg_oura__daily_activity', 'daily_activity_id') }}

),

daily_spo2 as (

    {{ health_latest_document('stg_oura__daily_spo2', 'daily_spo2_id') }}

),

main_sleep as (

    select * from {{ ref('int_oura__main_sleep') }}
    where {{ health_incremental_window('day') }}

),

heartrate as (

    select account, day, heartrate_source, bpm
    from {{ ref('int_oura__heartrate_localized') }}
    where heartrate_source in ('awake', 'rest')
      and {{ health_incremental_window('day', timestamp_column='sampled_at') }}

),

heartrate_daily as (

    select
        account,
        day,
        avg(case when heartrate_source = 'awake' then cast(bpm as double) end) as avg_awake_bpm,
        avg(case when heartrate_source = 'rest' then cast(bpm as double) end) as avg_rest_bpm
    from heartrate
    group by account, day

),

calendar as (

    select account, day from daily_sleep
    union
    select account, day from daily_readiness
    union
    select account, day from daily_resilience
    union
    select account, day from daily_stress
    union
    select account, day from daily_activity
    union
    select account, day from daily_spo2

),

joined as (

    select
        calendar.account,
        calendar.day,
        daily_resilience.resilience_level,
        daily_resilience.sleep_recovery,
        daily_resilience.daytime_recovery,
        daily_resilience.stress,
        daily_sleep.sleep_score,
        daily_sleep.deep_sleep,
        daily_sleep.efficiency,
        daily_sleep.latency,
        daily_sleep.rem_sleep,
        daily_sleep.restfulness,
        daily_sleep.timing,
        daily_sleep.total_sleep,
        heartrate_daily.avg_awake_bpm,
        heartrate_daily.avg_rest_bpm,
        daily_readiness.readiness_score,
        daily_readiness.activity_balance,
        daily_readiness.body_temperature,
        daily_readiness.hrv_balance,
        daily_readiness.recovery_index,
        daily_readiness.resting_heart_rate,
        daily_readiness.sleep_balance,
        daily_readiness.previous_day_activity,
        daily_readiness.previous_night,
        daily_readiness.temperature_deviation,
        daily_readiness.temperature_trend_deviation,
        daily_stress.stress_high_seconds as stress_high,
        daily_stress.recovery_high_seconds as recovery_high,
        daily_stress.day_summary,
        daily_activity.activity_score,
        daily_activity.steps,
        daily_activity.active_calories,
        daily_activity.total_calories,
        daily_spo2.spo2_average,
        daily_spo2.breathing_disturbance_index,
        coalesce(main_sleep.sleep_sessions, 0) as sleep_sessions,
        main_sleep.sleep_type as main_sleep_type,
        main_sleep.bedtime_start_at as main_sleep_bedtime_start,
        main_sleep.bedtime_end_at as main_sleep_bedtime_end,
        main_sleep.total_sleep_seconds as main_sleep_total_seconds,
        main_sleep.deep_sleep_seconds as main_sleep_deep_seconds,
        main_sleep.rem_sleep_seconds as main_sleep_rem_seconds,
        main_sleep.light_sleep_seconds as main_sleep_light_seconds,
        main_sleep.awake_seconds as main_sleep_awake_seconds,
        main_sleep.time_in_bed_seconds as main_sleep_time_in_bed_seconds,
        main_sleep.efficiency_percent as main_sleep_efficiency,
        main_sleep.latency_seconds as main_sleep_latency_seconds,
        main_sleep.average_heart_rate as main_sleep_average_heart_rate,
        main_sleep.lowest_heart_rate as main_sleep_lowest_heart_rate,
        main_sleep.average_hrv as main_sleep_average_hrv,
        main_sleep.average_breath as main_sleep_average_breath

    from calendar
    left join daily_sleep
        on calendar.account = daily_sleep.account and calendar.day = daily_sleep.day
    left join daily_readiness
        on calendar.account = daily_readiness.account and calendar.day = daily_readiness.day
    left join daily_resilience
        on calendar.account = daily_resilience.account and calendar.day = daily_resilience.day
    left join daily_stress
        on calendar.account = daily_stress.account and calendar.day = daily_stress.day
    left join daily_activity
        on calendar.account = daily_activity.account and calendar.day = daily_activity.day
    left join daily_spo2
        on calendar.account = daily_spo2.account and calendar.day = daily_spo2.day
    left join main_sleep
        on calendar.account = main_sleep.account and calendar.day = main_sleep.day
    left join heartrate_daily
        on calendar.account = heartrate_daily.account and calendar.day = heartrate_daily.day

),

final as (

    select
        account,
        cast(year(day) as integer) as year,
        cast(month(day) as integer) as month,
        {%- for name, kind in health_daily_columns() %}
        cast({{ name }} as {{ health_type(kind) }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from joined

)

select * from final
