{#- Helpers for the incremental marts. -#}

{#- SQL predicate limiting an incremental model's input to what may have changed since its
    last run, per player: rows on or after (newest `game_date` already in {{ this }} minus
    the `chess_lookback_days` var). Players not in {{ this }} yet get their whole history.
    The cursor is read at run time and inlined as literals, so Spark and Trino prune
    partitions (a join or subquery would make them scan every file).

    time_column: the input column to compare ('end_time' timestamp or 'game_date' date);
    partition_floor: also emit (year, month) bounds, for inputs partitioned by them;
    cursor: the column of {{ this }} holding the newest local date covered;
    month_aligned: start at the first day of that month (for models with a monthly grain,
    which must recompute whole months). -#}
{% macro chess_incremental_window(time_column, partition_floor=false, cursor='game_date', month_aligned=false) -%}
  {%- set back_days = (var('chess_lookback_days') | int) + 1 -%}
  {%- if not (is_incremental() and not var('full_reload')) or not execute -%}
    1 = 1
  {%- elif (this | string).startswith('__dbt__cte__') -%}
    {#- A dbt unit test: {{ this }} is a fixture CTE that cannot be queried while compiling,
        so the same window is written as subqueries (the earliest player cursor). -#}
    (
      player not in (select player from {{ this }})
      or {{ time_column }} >= (
        select {{ days_before('min(last_date)', back_days + (1 if time_column == 'end_time' else 0)) }}
        from (select max({{ cursor }}) as last_date from {{ this }} group by player) as cursors
      )
    )
  {%- else -%}
    {%- set query -%}
      select player, {{ date_string('max(' ~ cursor ~ ')') }} as last_date
      from {{ this }} group by player order by player
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if rows | length == 0 -%}
      1 = 1
    {%- else -%}
      {#- One extra day: game_date is a local date, end_time is UTC (at most 14 h apart). -#}
      {%- set back = modules.datetime.timedelta(days=back_days) -%}
      {%- set one_day = modules.datetime.timedelta(days=1) -%}
      {#- One OR-clause per kind of bound, each on raw input columns only, so the engine
          can push every clause down to Iceberg (an OR mixing in a computed column would
          not be pushed at all). -#}
      {%- set clauses = {'floor': [], 'local': [], 'time': []} -%}
      {%- for row in rows -%}
        {%- set start = modules.datetime.date.fromisoformat((row[1] | string)[:10]) - back -%}
        {%- if month_aligned %}{% set start = start.replace(day=1) %}{% endif -%}
        {%- set who = "player = '" ~ row[0] ~ "'" -%}
        {%- if partition_floor -%}
          {%- do clauses['floor'].append(who ~ ' and (year > ' ~ start.year ~ ' or (year = ' ~ start.year ~ ' and month >= ' ~ start.month ~ '))') -%}
        {%- endif -%}
        {%- if time_column == 'end_time' -%}
          {%- if month_aligned -%}
            {%- do clauses['local'].append(who ~ " and game_date >= date '" ~ start.isoformat() ~ "'") -%}
          {%- endif -%}
          {%- do clauses['time'].append(who ~ ' and end_time >= ' ~ utc_timestamp_literal((start - one_day).isoformat() ~ ' 00:00:00')) -%}
        {%- else -%}
          {%- do clauses['time'].append(who ~ ' and ' ~ time_column ~ " >= date '" ~ start.isoformat() ~ "'") -%}
        {%- endif -%}
      {%- endfor -%}
      {%- set quoted = [] -%}
      {%- for row in rows %}{% do quoted.append("'" ~ row[0] ~ "'") %}{% endfor -%}
      {%- set others = 'player not in (' ~ (quoted | join(', ')) ~ ')' -%}
      (
      {%- for kind in ['floor', 'local', 'time'] if clauses[kind] %}
        {{ 'and ' if not loop.first }}(
          {%- for clause in clauses[kind] %}
          ({{ clause }}) or
          {%- endfor %}
          {{ others }}
        )
      {%- endfor %}
      )
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}

{#- `lakehouse transform --full-refresh` reloads incremental marts without dropping them
    (a dropped table would bypass write-audit-publish): this pre-hook empties the table on
    the audit branch, then the model reloads everything (full_reload disables the
    cursor). -#}
{% macro full_reload_hook() -%}
  {%- if var('full_reload') and is_incremental() -%}
    delete from {{ this }} where 1 = 1
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- MERGE for dbt-spark with a partition floor on the target: with config
    `merge_partition_floor: true` (target partitioned by year, month), target files older
    than the oldest (year, month) of the new rows are never read, so an incremental run
    costs the same on 1 or 5 years of history. A game keeps its (year, month) between
    runs, so no match is lost (changing a player's time zone needs --full-refresh). -#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
  {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
  {%- if config.get('merge_partition_floor', false) and execute -%}
    {%- set floor = run_query('select year, month from ' ~ source ~ ' order by year, month limit 1').rows -%}
    {%- if floor | length > 0 -%}
      {%- do predicates.append('(DBT_INTERNAL_DEST.year > ' ~ floor[0][0] ~ ' or (DBT_INTERNAL_DEST.year = '
            ~ floor[0][0] ~ ' and DBT_INTERNAL_DEST.month >= ' ~ floor[0][1] ~ '))') -%}
    {%- endif -%}
  {%- endif -%}
  {#- From here on: dbt-spark 1.11's spark__get_merge_sql (not callable by namespace). -#}
  {%- set dest_columns = adapter.get_columns_in_relation(target) -%}
  {%- set update_columns = get_merge_update_columns(config.get('merge_update_columns'), config.get('merge_exclude_columns'), dest_columns) -%}
  {%- set keys = [unique_key] if unique_key is string else unique_key -%}
  {%- for key in keys -%}
    {%- do predicates.append('DBT_INTERNAL_SOURCE.' ~ key ~ ' = DBT_INTERNAL_DEST.' ~ key) -%}
  {%- endfor -%}
  {%- if not keys -%}{%- do predicates.append('FALSE') -%}{%- endif -%}

  merge into {{ target }} as DBT_INTERNAL_DEST
      using {{ source }} as DBT_INTERNAL_SOURCE
      on {{ predicates | join('\n      and ') }}
      when matched then update set
        {% if update_columns -%}{%- for column_name in update_columns %}
            {{ column_name }} = DBT_INTERNAL_SOURCE.{{ column_name }}
            {%- if not loop.last %}, {%- endif %}
        {%- endfor %}
        {%- else %} * {% endif %}
      when not matched then insert *
{% endmacro %}
