{#- Helpers for the incremental marts. -#}

{#- Whether this model reloads everything on this run: `lakehouse transform --full-refresh`
    (var full_reload) or a mart whose published `marts_version` is older than its model's
    (var reload_marts, the list `lakehouse transform` passes; README.md "Upgrading"). -#}
{% macro is_full_reload() %}
  {{ return(var('full_reload') or model.name in var('reload_marts')) }}
{% endmacro %}

{%- macro _chess_player_literal(player) -%}
  '{{ player | replace("'", "''") }}'
{%- endmacro -%}

{#- The incremental window of a chess mart. `window` is a dict, set once at the top of the
    model and given both to its `chess_window` config (read by the delete pre-hook) and to
    chess_incremental_window (a unit test sees only the latter):

      column        the column compared on both the input and the mart: 'game_date'
                    (local date, default) or 'end_time' (UTC timestamp);
      cursor        the mart's column holding the newest local date covered (default
                    'game_date');
      month_aligned the window starts on the first day of its month (marts with a monthly
                    grain, which must recompute whole months).

    Returns a list of (player, start date): per player in {{ this }}, the newest `cursor`
    minus (chess_lookback_days + 1) days (one extra day: game_date is a local date, end_time
    UTC). None: no window, read everything (not incremental, a full reload, parse time, or
    a unit test whose {{ this }} is a fixture CTE). Players not in {{ this }} get no entry:
    their whole history is read. -#}
{% macro chess_window_starts(window) %}
  {%- if not execute or not is_incremental() or is_full_reload()
        or (this | string).startswith('__dbt__cte__') -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set query -%}
    select player, {{ date_string('max(' ~ window.get('cursor', 'game_date') ~ ')') }} as last_date
    from {{ this }} group by player order by player
  {%- endset -%}
  {%- set back = modules.datetime.timedelta(days=(var('chess_lookback_days') | int) + 1) -%}
  {%- set starts = [] -%}
  {%- for row in run_query(query).rows -%}
    {%- set start = modules.datetime.date.fromisoformat((row[1] | string)[:10]) - back -%}
    {%- if window.get('month_aligned', false) %}{% set start = start.replace(day=1) %}{% endif -%}
    {%- do starts.append((row[0], start)) -%}
  {%- endfor -%}
  {{ return(starts) }}
{% endmacro %}

{#- `(year, month) >= start's` as SQL, for tables partitioned by the game's year, month. -#}
{%- macro _chess_month_floor(start) -%}
  (year > {{ start.year }} or (year = {{ start.year }} and month >= {{ start.month }}))
{%- endmacro -%}

{#- SQL predicate limiting an incremental chess mart's input to its `window` (macro
    chess_window_starts): rows on or after each player's start; players not in {{ this }}
    yet get their whole history. The cursor is read at run time and inlined as literals,
    so Spark and Trino prune partitions (a join or subquery would make them scan every
    file).

    partition_floor: also emit (year, month) bounds, for inputs partitioned by them. -#}
{% macro chess_incremental_window(window, partition_floor=false) -%}
  {%- set time_column = window.get('column', 'game_date') -%}
  {%- set cursor = window.get('cursor', 'game_date') -%}
  {%- set month_aligned = window.get('month_aligned', false) -%}
  {%- set back_days = (var('chess_lookback_days') | int) + 1 -%}
  {%- if execute and is_incremental() and not is_full_reload()
        and (this | string).startswith('__dbt__cte__') -%}
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
    {%- set starts = chess_window_starts(window) -%}
    {%- if not starts -%}
      1 = 1
    {%- else -%}
      {%- set one_day = modules.datetime.timedelta(days=1) -%}
      {#- One OR-clause per kind of bound, each on raw input columns only, so the engine
          can push every clause down to Iceberg (an OR mixing in a computed column would
          not be pushed at all). -#}
      {%- set clauses = {'floor': [], 'local': [], 'time': []} -%}
      {%- for player, start in starts -%}
        {%- set who = 'player = ' ~ _chess_player_literal(player) -%}
        {%- if partition_floor -%}
          {%- do clauses['floor'].append(who ~ ' and ' ~ _chess_month_floor(start)) -%}
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
      {%- for player, start in starts %}{% do quoted.append(_chess_player_literal(player)) %}{% endfor -%}
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

{#- Pre-hook of every incremental chess mart (folder config): before the MERGE, delete the
    mart's rows inside the window the model re-reads (the same bounds as
    chess_incremental_window, on the mart's own columns). The MERGE then writes back every
    row of the window that still has an input, so a game that vanished from bronze (bronze
    mirrors a re-fetched month) leaves fct_chess_games, and a day or month whose games
    vanished is recomputed from what remains, or leaves the aggregate when nothing
    remains. The window equals a full rebuild of it. Both statements land on the audit
    branch (Spark) or in marts_audit (Trino): readers never see the gap. Marts without a
    `chess_window` config (the rebuilt ones) are left alone. -#}
{% macro chess_delete_window_hook() -%}
  {%- set window = config.get('chess_window') -%}
  {%- set starts = chess_window_starts(window) if window else none -%}
  {%- if starts -%}
    {%- set one_day = modules.datetime.timedelta(days=1) -%}
    delete from {{ this }} where
    {%- for player, start in starts %}
      (player = {{ _chess_player_literal(player) }} and
      {%- if window.get('month_aligned', false) %} {{ _chess_month_floor(start) }}
      {%- elif window.get('column', 'game_date') == 'end_time' %}
        {#- (year, month) bound only for pruning: a game ending after UTC midnight of
            start - 1 day has a local date of start - 2 or later. #}
        {{ _chess_month_floor(start - one_day - one_day) }}
        and end_time >= {{ utc_timestamp_literal((start - one_day).isoformat() ~ ' 00:00:00') }}
      {%- else %} {{ _chess_month_floor(start) }} and game_date >= date '{{ start.isoformat() }}'
      {%- endif %}){{ ' or' if not loop.last }}
    {%- endfor %}
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the marts rebuilt in full each run (folder marts/chess/rebuilt): on Spark
    they are incremental models (INSERT OVERWRITE lands on the audit branch, a `create or
    replace` would not), and a dynamic INSERT OVERWRITE keeps partitions the new rows
    lack; emptying the table first (on the audit branch, a metadata-only delete) makes
    the rebuild whole, e.g. a month whose every rapid game vanished leaves the mart. On
    Trino they are tables, rebuilt by dbt. -#}
{% macro rebuild_in_full_hook() -%}
  {%- if target.type == 'spark' and is_incremental() -%}
    delete from {{ this }} where 1 = 1
  {%- else -%}
    select 1
  {%- endif -%}
{%- endmacro %}

{#- `lakehouse transform --full-refresh` (or a marts_version upgrade) reloads incremental
    marts without dropping them (a dropped table would bypass write-audit-publish): this
    pre-hook empties the table on the audit branch, then the model reloads everything
    (is_full_reload disables the cursor). -#}
{% macro full_reload_hook() -%}
  {%- if is_incremental() and is_full_reload() -%}
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
