{#- One row per (account, source, day), `day` the wake-up day, every measure in canonical
    units, in the groups fct_daily_health picks from: sleep (the day's main sleep),
    recovery and activity, each with its record id and raw run id, and a has_<group> flag
    saying the source measured that group that day.

    - Oura: every day with a daily sleep, readiness, activity or SpO2 document (the latest
      fetched of each, health_latest_document) or a sleep session. Recovery: the readiness
      document (its temperature deviation) with the main sleep's resting HR and HRV and the
      day's SpO2. Activity: daily_activity (kcal, steps).
    - WHOOP: every day with a sleep. Recovery: the main sleep's recovery (joined on
      sleep_id in int_health__sleep_sessions), when scored. Activity: the cycle the main
      sleep opens (the sleep's cycle_id): energy (kJ / 4.184 = kcal) and strain.

    Written as one UNION ALL of per-input rows, each filling only its own columns, then
    one GROUP BY: every input is read once (joins of the same views would make Spark
    compute them again for each join). -#}

{%- set columns = [('has_sleep', 'boolean'), ('has_recovery', 'boolean'), ('has_activity', 'boolean')] %}
{%- for name, kind, group in health_canonical_columns()
      if group is not none and name != group ~ '_source' %}
  {%- do columns.append((name, kind)) %}
{%- endfor %}

{#- The main sleep's value of a session column (NULL when the day has no main sleep). -#}
{%- set main = "case when is_main_sleep then 1 end" %}
{%- set sessions_values = {
    'has_sleep': 'bool_or(is_main_sleep and total_sleep_s is not null)',
    'has_recovery': 'bool_or(is_main_sleep and whoop_recovery_score is not null)',
    'has_activity': 'bool_or(is_main_sleep and whoop_strain is not null)',
    'sleep_record_id': 'max_by(sleep_id, ' ~ main ~ ')',
    'sleep_run_id': 'max_by(run_id, ' ~ main ~ ')',
    'sleep_sessions': 'count(*)',
    'nap_count': 'sum(case when is_nap then 1 else 0 end)',
    'recovery_record_id': 'max_by(recovery_record_id, ' ~ main ~ ')',
    'recovery_run_id': 'max_by(recovery_run_id, ' ~ main ~ ')',
    'energy_kcal': 'max_by(whoop_cycle_kilojoule / 4.184, ' ~ main ~ ')',
    'activity_record_id': 'max_by(cast(whoop_cycle_id as ' ~ string_type() ~ '), ' ~ main ~ ')',
    'activity_run_id': 'max_by(cycle_run_id, ' ~ main ~ ')',
} %}
{%- for name in ['sleep_start_utc', 'sleep_end_utc', 'time_in_bed_s', 'total_sleep_s',
                 'deep_s', 'rem_s', 'light_s', 'awake_s', 'latency_s', 'sleep_efficiency_pct',
                 'resp_rate', 'resting_hr_bpm', 'hrv_rmssd_ms', 'spo2_pct', 'skin_temp_c',
                 'whoop_sleep_performance_pct', 'whoop_recovery_score', 'whoop_strain'] %}
  {%- do sessions_values.update({name: 'max_by(' ~ name ~ ', ' ~ main ~ ')'}) %}
{%- endfor %}

{%- set inputs = [
    ('sessions', true, sessions_values),
    ('oura_sleep_scores', false, {'oura_sleep_score': 'sleep_score'}),
    ('oura_readiness', false, {
        'has_recovery': 'true',
        'temp_deviation_c': 'temperature_deviation',
        'recovery_record_id': 'daily_readiness_id',
        'recovery_run_id': 'run_id',
        'oura_readiness_score': 'readiness_score',
    }),
    ('oura_activity', false, {
        'has_activity': 'true',
        'energy_kcal': 'total_calories',
        'steps': 'steps',
        'activity_record_id': 'daily_activity_id',
        'activity_run_id': 'run_id',
        'oura_activity_score': 'activity_score',
    }),
    ('oura_spo2', false, {'spo2_pct': 'spo2_average'}),
] %}

with

sessions as (

    select * from {{ ref('int_health__sleep_sessions') }}

),

oura_sleep_scores as (

    {{ health_latest_document('stg_oura__daily_sleep', 'daily_sleep_id') }}

),

oura_readiness as (

    {{ health_latest_document('stg_oura__daily_readiness', 'daily_readiness_id') }}

),

oura_activity as (

    {{ health_latest_document('stg_oura__daily_activity', 'daily_activity_id') }}

),

oura_spo2 as (

    {{ health_latest_document('stg_oura__daily_spo2', 'daily_spo2_id') }}

),

inputs as (
{%- for relation, grouped, values in inputs %}

    select
        account,
        {{ 'source' if grouped else "'oura'" }} as source,
        day,
        {%- for name, kind in columns %}
        cast({{ values.get(name, 'null') }} as {{ health_type(kind) }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    {%- if grouped %}
    group by account, source, day
    {%- endif %}
    {{ 'union all' if not loop.last }}
{%- endfor %}

),

final as (

    select
        account,
        source,
        day,
        {%- for name, kind in columns %}
        {{ 'bool_or' if kind == 'boolean' else 'max' }}({{ name }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from inputs
    group by account, source, day

)

select * from final
