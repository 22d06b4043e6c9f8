{#- WHOOP recoveries, renamed and typed only: one row per (account, cycle id), measured
    during the sleep `sleep_id`. Scores and vitals are NULL unless score_state is SCORED. -#}
with

source as (

    select * from {{ source('whoop', 'whoop_recovery') }}

),

renamed as (

    select
        account,
        cycle_id,
        sleep_id,
        upper(score_state) as score_state,
        score.user_calibrating as user_calibrating,
        cast(score.recovery_score as double) as recovery_score,
        cast(score.resting_heart_rate as double) as resting_heart_rate,
        cast(score.hrv_rmssd_milli as double) as hrv_rmssd_ms,
        cast(score.spo2_percentage as double) as spo2_percent,
        cast(score.skin_temp_celsius as double) as skin_temp_celsius,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
