{#- SQL that differs between Spark SQL and Trino, behind adapter.dispatch (FACTS.md lists
    the traps). `default__` is Trino / ANSI; `spark__` is Spark SQL. -#}

{#- First capture group of a regex; NULL when it does not match or is empty (Spark returns
    '' on no match, Trino NULL). -#}
{% macro regex_group(expr, pattern) -%}
  {{ return(adapter.dispatch('regex_group', 'lakehouse')(expr, pattern)) }}
{%- endmacro %}
{% macro default__regex_group(expr, pattern) -%}
  nullif(regexp_extract({{ expr }}, '{{ pattern }}', 1), '')
{%- endmacro %}
{% macro spark__regex_group(expr, pattern) -%}
  nullif(regexp_extract({{ expr }}, '{{ pattern }}', 1), '')
{%- endmacro %}

{#- Local calendar date of a UTC timestamp in an IANA zone (column or literal). Spark's
    session time zone is UTC (build_spark), so from_utc_timestamp gives local wall time. -#}
{% macro local_date(ts, tz) -%}
  {{ return(adapter.dispatch('local_date', 'lakehouse')(ts, tz)) }}
{%- endmacro %}
{% macro default__local_date(ts, tz) -%}
  cast(at_timezone({{ ts }}, {{ tz }}) as date)
{%- endmacro %}
{% macro spark__local_date(ts, tz) -%}
  to_date(from_utc_timestamp({{ ts }}, {{ tz }}))
{%- endmacro %}

{#- A date N days before a date. -#}
{% macro days_before(date_expr, days) -%}
  {{ return(adapter.dispatch('days_before', 'lakehouse')(date_expr, days)) }}
{%- endmacro %}
{% macro default__days_before(date_expr, days) -%}
  date_add('day', -{{ days }}, {{ date_expr }})
{%- endmacro %}
{% macro spark__days_before(date_expr, days) -%}
  date_sub({{ date_expr }}, {{ days }})
{%- endmacro %}

{#- wins / games as DECIMAL(10,2), rounded half up, computed in decimals (Trino's integer
    division truncates; doubles round 0.145 down). NULL when there are no games. -#}
{% macro ratio_2dp(numerator, denominator) -%}
  cast(round(cast({{ numerator }} as decimal(20, 6)) / nullif({{ denominator }}, 0), 2) as decimal(10, 2))
{%- endmacro %}

{#- An array of structs aggregated in a deterministic order.
    fields: list of (name, sql_expr, sql_type); order_by: list of sql expressions. -#}
{% macro ordered_struct_array(fields, order_by) -%}
  {{ return(adapter.dispatch('ordered_struct_array', 'lakehouse')(fields, order_by)) }}
{%- endmacro %}
{% macro default__ordered_struct_array(fields, order_by) -%}
  array_agg(
    cast(row({% for f in fields %}{{ f[1] }}{{ ", " if not loop.last }}{% endfor %})
      as row({% for f in fields %}{{ f[0] }} {{ f[2] }}{{ ", " if not loop.last }}{% endfor %}))
    order by {{ order_by | join(', ') }}
  )
{%- endmacro %}
{% macro spark__ordered_struct_array(fields, order_by) -%}
  {#- sort_array orders structs field by field: sort on (k0, k1, ..., payload), then
      keep the payload. -#}
  transform(
    sort_array(collect_list(named_struct(
      {% for o in order_by %}'k{{ loop.index0 }}', {{ o }}, {% endfor %}
      'v', named_struct({% for f in fields %}'{{ f[0] }}', cast({{ f[1] }} as {{ f[2] }}){{ ", " if not loop.last }}{% endfor %})
    ))),
    x -> x.v
  )
{%- endmacro %}

{#- String type name for casts. -#}
{% macro string_type() -%}
  {{ return(adapter.dispatch('string_type', 'lakehouse')()) }}
{%- endmacro %}
{% macro default__string_type() %}varchar{% endmacro %}
{% macro spark__string_type() %}string{% endmacro %}

{#- A DATE / TIMESTAMP expression as 'yyyy-MM-dd' text (UTC for timestamps). -#}
{% macro date_string(expr) -%}
  {{ return(adapter.dispatch('date_string', 'lakehouse')(expr)) }}
{%- endmacro %}
{% macro default__date_string(expr) -%}
  cast(cast({{ expr }} as date) as varchar)
{%- endmacro %}
{% macro spark__date_string(expr) -%}
  date_format({{ expr }}, 'yyyy-MM-dd')
{%- endmacro %}

{#- A UTC instant literal from 'yyyy-MM-dd HH:mm:ss'. Spark's session zone is UTC. -#}
{% macro utc_timestamp_literal(text) -%}
  {{ return(adapter.dispatch('utc_timestamp_literal', 'lakehouse')(text)) }}
{%- endmacro %}
{% macro default__utc_timestamp_literal(text) -%}
  timestamp '{{ text }} UTC'
{%- endmacro %}
{% macro spark__utc_timestamp_literal(text) -%}
  timestamp '{{ text }}'
{%- endmacro %}

{#- The distinct values of a string column over a group, sorted and comma-joined. -#}
{% macro sorted_distinct_list(column) -%}
  {{ return(adapter.dispatch('sorted_distinct_list', 'lakehouse')(column)) }}
{%- endmacro %}
{% macro default__sorted_distinct_list(column) -%}
  array_join(array_sort(array_agg(distinct {{ column }})), ',')
{%- endmacro %}
{% macro spark__sorted_distinct_list(column) -%}
  array_join(array_sort(collect_set({{ column }})), ',')
{%- endmacro %}
