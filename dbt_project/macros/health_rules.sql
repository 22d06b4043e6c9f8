{#- The health (Oura) rules of this project, each defined once: the columns of daily_health
    and their types, the incremental window (lookback), and "one document per day". -#}

{#- The columns of daily_health after its key (account, year, month), in order, as
    (name, kind). The same list types the mart's columns and the structs of
    agg_monthly_health.daily_details, so the two cannot drift apart. Every number is a
    DOUBLE (the seed's DECIMAL(10,0) dropped decimals: resilience contributors and
    temperatures are fractional). -#}
{% macro health_daily_columns() %}
  {{ return([
    ('day', 'date'),
    ('resilience_level', 'string'),
    ('sleep_recovery', 'double'),
    ('daytime_recovery', 'double'),
    ('stress', 'double'),
    ('sleep_score', 'double'),
    ('deep_sleep', 'double'),
    ('efficiency', 'double'),
    ('latency', 'double'),
    ('rem_sleep', 'double'),
    ('restfulness', 'double'),
    ('timing', 'double'),
    ('total_sleep', 'double'),
    ('avg_awake_bpm', 'double'),
    ('avg_rest_bpm', 'double'),
    ('readiness_score', 'double'),
    ('activity_balance', 'double'),
    ('body_temperature', 'double'),
    ('hrv_balance', 'double'),
    ('recovery_index', 'double'),
    ('resting_heart_rate', 'double'),
    ('sleep_balance', 'double'),
    ('previous_day_activity', 'double'),
    ('previous_night', 'double'),
    ('temperature_deviation', 'double'),
    ('temperature_trend_deviation', 'double'),
    ('stress_high', 'double'),
    ('recovery_high', 'double'),
    ('day_summary', 'string'),
    ('activity_score', 'double'),
    ('steps', 'double'),
    ('active_calories', 'double'),
    ('total_calories', 'double'),
    ('spo2_average', 'double'),
    ('breathing_disturbance_index', 'double'),
    ('sleep_sessions', 'double'),
    ('main_sleep_type', 'string'),
    ('main_sleep_bedtime_start', 'timestamp'),
    ('main_sleep_bedtime_end', 'timestamp'),
    ('main_sleep_total_seconds', 'double'),
    ('main_sleep_deep_seconds', 'double'),
    ('main_sleep_rem_seconds', 'double'),
    ('main_sleep_light_seconds', 'double'),
    ('main_sleep_awake_seconds', 'double'),
    ('main_sleep_time_in_bed_seconds', 'double'),
    ('main_sleep_efficiency', 'double'),
    ('main_sleep_latency_seconds', 'double'),
    ('main_sleep_average_heart_rate', 'double'),
    ('main_sleep_lowest_heart_rate', 'double'),
    ('main_sleep_average_hrv', 'double'),
    ('main_sleep_average_breath', 'double'),
  ]) }}
{% endmacro %}

{#- The SQL type of a column kind of health_daily_columns on this engine. Timestamps are
    UTC instants: Iceberg `timestamptz`, which Trino calls timestamp(6) with time zone. -#}
{% macro health_type(kind) -%}
  {%- if kind == 'string' -%}{{ string_type() }}
  {%- elif kind == 'timestamp' -%}{{ 'timestamp' if target.type == 'spark' else 'timestamp(6) with time zone' }}
  {%- else -%}{{ kind }}
  {%- endif -%}
{%- endmacro %}

{#- The (name, sql, type) triples of agg_monthly_health.daily_details: every column of
    daily_health but its key (account, year, month are the monthly row's own). -#}
{% macro health_daily_detail_fields() %}
  {%- set fields = [] -%}
  {%- for name, kind in health_daily_columns() -%}
    {%- do fields.append((name, name, health_type(kind))) -%}
  {%- endfor -%}
  {{ return(fields) }}
{% endmacro %}

{#- Where each account's incremental window starts: a list of (account, date), the newest
    `day` of that account in {{ this }} minus var `health_lookback_days` (Oura syncs late
    and rescores past days). None: no window, read everything (not incremental, a full
    reload (macro is_full_reload), parse time, or a unit test whose {{ this }} is a
    fixture CTE). Accounts not in {{ this }} get no entry: their whole history is read. -#}
{% macro health_window_starts() %}
  {%- if not execute or not is_incremental() or is_full_reload()
        or (this | string).startswith('__dbt__cte__') -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set query -%}
    select account, {{ date_string('max(day)') }} as last_day
    from {{ this }} group by account order by account
  {%- endset -%}
  {%- set back = modules.datetime.timedelta(days=var('health_lookback_days') | int) -%}
  {%- set starts = [] -%}
  {%- for row in run_query(query).rows -%}
    {%- do starts.append((row[0], modules.datetime.date.fromisoformat((row[1] | string)[:10]) - back)) -%}
  {%- endfor -%}
  {{ return(starts) }}
{% endmacro %}

{%- macro _health_account_literal(account) -%}
  '{{ account | replace("'", "''") }}'
{%- endmacro -%}

{#- SQL predicate limiting daily_health's input to its incremental window, per account:
    `day_column` (a local date) on or after the account's window start. With
    `timestamp_column` (a UTC instant, e.g. heart-rate samples) a second, coarser bound on
    it one day earlier (a local day starts at most 14 h from UTC midnight) lets Spark and
    Trino prune bronze files; the `day_column` bound keeps the first day whole and exact.
    The cursor is read at run time and inlined as literals (a join or subquery would scan
    every file). In a unit test the same window is written as subqueries on the fixture. -#}
{% macro health_incremental_window(day_column='day', timestamp_column=none) -%}
  {%- set lookback = var('health_lookback_days') | int -%}
  {%- if not execute or not is_incremental() or is_full_reload() -%}
    1 = 1
  {%- elif (this | string).startswith('__dbt__cte__') -%}
    (
      account not in (select account from {{ this }})
      or {{ day_column }} >= (
        select {{ days_before('min(last_day)', lookback) }}
        from (select max(day) as last_day from {{ this }} group by account) as cursors
      )
    )
  {%- else -%}
    {%- set starts = health_window_starts() -%}
    {%- if not starts -%}
      1 = 1
    {%- else -%}
      {%- set quoted = [] -%}
      {%- for account, start in starts %}{% do quoted.append(_health_account_literal(account)) %}{% endfor -%}
      {%- set others = 'account not in (' ~ (quoted | join(', ')) ~ ')' -%}
      (
        (
        {%- for account, start in starts %}
          (account = {{ _health_account_literal(account) }} and {{ day_column }} >= date '{{ start.isoformat() }}') or
        {%- endfor %}
          {{ others }}
        )
      {%- if timestamp_column %}
        and (
        {%- for account, start in starts %}
          {%- set earlier = start - modules.datetime.timedelta(days=1) %}
          (account = {{ _health_account_literal(account) }} and {{ timestamp_column }} >= {{ utc_timestamp_literal(earlier.isoformat() ~ ' 00:00:00') }}) or
        {%- endfor %}
          {{ others }}
        )
      {%- endif %}
      )
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}

{#- Pre-hook of daily_health: before the MERGE, delete the rows of each account's window.
    The MERGE then writes back every day of the window that still has an input, so a day
    whose every input disappeared from bronze (documents Oura deleted) disappears from the
    mart too, and the window equals a full rebuild of it. Both statements land on the
    audit branch (Spark) or in marts_audit (Trino): readers never see the gap. -#}
{% macro health_delete_window_hook() -%}
  {%- set starts = health_window_starts() -%}
  {%- if starts -%}
    delete from {{ this }} where
    {%- for account, start in starts %}
      (account = {{ _health_account_literal(account) }} and day >= date '{{ start.isoformat() }}'){{ ' or' if not loop.last }}
    {%- endfor %}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- One document per (account, day) of a daily Oura staging model, within the incremental
    window: bronze is keyed by document id, so a day the API re-issued under a new id would
    otherwise count twice; the most recently fetched document wins (then the highest id,
    so the choice is deterministic). -#}
{% macro health_latest_document(model_name, id_column) -%}
    select * from (
        select
            documents.*,
            row_number() over (
                partition by account, day
                order by fetched_at desc nulls last, {{ id_column }} desc
            ) as document_rank
        from {{ ref(model_name) }} as documents
        where {{ health_incremental_window('day') }}
    ) as ranked
    where document_rank = 1
{%- endmacro %}

{#- Generic test: every non-NULL value of `columns` lies in [min_value, max_value] (e.g.
    Oura's 1-100 scores), checked in one query per model. dbt_utils has accepted_range,
    but packages cannot be fetched offline. -#}
{% test within_range(model, columns, min_value, max_value) %}
{%- for column in columns %}
select '{{ column }}' as column_name, cast({{ column }} as double) as value
from {{ model }}
where {{ column }} < {{ min_value }} or {{ column }} > {{ max_value }}
{{ 'union all' if not loop.last }}
{%- endfor %}
{% endtest %}

{#- Milliseconds (WHOOP) to whole seconds, rounded half up. Divided as a DOUBLE: Trino's
    decimal division keeps the operands' scale (5271499 / 1000.0 = 5271.5, rounding twice to
    5272); in a double every whole millisecond count / 1000 rounds once, the same on both
    engines (n.5 is exact in binary). -#}
{% macro whoop_seconds(milliseconds) -%}
  cast(round(cast({{ milliseconds }} as double) / 1000) as integer)
{%- endmacro %}

{#- The columns of fct_daily_health after its key (account, year, month), in order, as
    (name, kind, group). Group sleep, recovery or activity: a day's columns of one group
    come whole from one source (never a mix of two devices' measures), with the group's
    lineage columns `<group>_source`, `<group>_record_id` and `<group>_run_id`; 'native':
    a vendor's own score, only ever from that vendor; none: the day itself. The same list
    types int_health__daily_by_source. The kinds are typed by health_type. -#}
{% macro health_canonical_columns() %}
  {{ return([
    ('day', 'date', none),
    ('sources', 'string', none),
    ('sleep_source', 'string', 'sleep'),
    ('sleep_record_id', 'string', 'sleep'),
    ('sleep_run_id', 'string', 'sleep'),
    ('sleep_start_utc', 'timestamp', 'sleep'),
    ('sleep_end_utc', 'timestamp', 'sleep'),
    ('time_in_bed_s', 'integer', 'sleep'),
    ('total_sleep_s', 'integer', 'sleep'),
    ('deep_s', 'integer', 'sleep'),
    ('rem_s', 'integer', 'sleep'),
    ('light_s', 'integer', 'sleep'),
    ('awake_s', 'integer', 'sleep'),
    ('latency_s', 'integer', 'sleep'),
    ('sleep_efficiency_pct', 'double', 'sleep'),
    ('resp_rate', 'double', 'sleep'),
    ('sleep_sessions', 'integer', 'sleep'),
    ('nap_count', 'integer', 'sleep'),
    ('recovery_source', 'string', 'recovery'),
    ('recovery_record_id', 'string', 'recovery'),
    ('recovery_run_id', 'string', 'recovery'),
    ('resting_hr_bpm', 'double', 'recovery'),
    ('hrv_rmssd_ms', 'double', 'recovery'),
    ('spo2_pct', 'double', 'recovery'),
    ('skin_temp_c', 'double', 'recovery'),
    ('temp_deviation_c', 'double', 'recovery'),
    ('activity_source', 'string', 'activity'),
    ('activity_record_id', 'string', 'activity'),
    ('activity_run_id', 'string', 'activity'),
    ('energy_kcal', 'double', 'activity'),
    ('steps', 'integer', 'activity'),
    ('oura_sleep_score', 'double', 'native'),
    ('oura_readiness_score', 'double', 'native'),
    ('oura_activity_score', 'double', 'native'),
    ('whoop_sleep_performance_pct', 'double', 'native'),
    ('whoop_recovery_score', 'double', 'native'),
    ('whoop_strain', 'double', 'native'),
  ]) }}
{% endmacro %}

{#- The rank of `source_column` for an account (lower wins), when several sources measured
    a group on one day: the account's `preferred_source` (health_accounts seed) first, then
    the order of var health_source_preference, then any other source by name. -#}
{% macro health_source_rank(source_column, preferred_column) -%}
  case
    when {{ source_column }} = {{ preferred_column }} then 0
    {%- for name in var('health_source_preference') %}
    when {{ source_column }} = '{{ name }}' then {{ loop.index }}
    {%- endfor %}
    else {{ var('health_source_preference') | length + 1 }}
  end
{%- endmacro %}

{#- A text cell of the health_accounts seed, NULL when empty. dbt-spark loads an empty
    CSV cell as the string 'None' (dbt-trino as NULL), so both mean "not set". -#}
{% macro seed_text(column) -%}
  case when {{ column }} in ('', 'None') then null else {{ column }} end
{%- endmacro %}
