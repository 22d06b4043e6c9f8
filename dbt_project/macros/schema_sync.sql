{#- How a mart's table follows its model's columns (README.md "Upgrading").

    A mart's schema changes only when the mart is reloaded in full: `--full-refresh`, or a
    `marts_version` upgrade (`lakehouse transform` reloads every mart whose published
    version is older than its model's). On any other run `on_schema_change: fail` stops
    the build, so an unplanned change never reaches the readers.

    dbt-spark's own `sync_all_columns` refuses to drop Iceberg columns and cannot change
    the fields of a struct (game_details). A reload keeps no rows (the pre-hook emptied
    the table on the audit branch), so it needs neither the old data nor the old column
    ids: columns that are gone or changed type are dropped, new ones added, and the order
    made the model's, so a migrated mart equals a freshly built one.

    Iceberg keeps one schema per table, not per branch: readers of `main` see the new
    columns at once, NULL in the old snapshot until the audited one is published. -#}
{% macro spark__process_schema_changes(on_schema_change, source_relation, target_relation) %}
  {%- if on_schema_change != 'ignore' and is_full_reload() -%}
    {{ return(iceberg_sync_columns(source_relation, target_relation)) }}
  {%- endif -%}
  {{ return(default__process_schema_changes(on_schema_change, source_relation, target_relation)) }}
{% endmacro %}

{#- ALTER the Iceberg table `target_relation` to the columns of `source_relation` (names,
    types and order); returns the source columns. Partition columns must keep their type. -#}
{% macro iceberg_sync_columns(source_relation, target_relation) %}
  {%- set source_columns = adapter.get_columns_in_relation(source_relation) -%}
  {%- set target_columns = adapter.get_columns_in_relation(target_relation) -%}
  {%- set wanted = {} -%}
  {%- set names = [] -%}
  {%- for column in source_columns -%}
    {%- do wanted.update({column.name: column.data_type}) -%}
    {%- do names.append(column.name) -%}
  {%- endfor -%}
  {%- set changes = [] -%}
  {%- set current = [] -%}
  {%- for column in target_columns -%}
    {%- if wanted.get(column.name) == column.data_type -%}
      {%- do current.append(column.name) -%}
    {%- else -%}
      {%- do changes.append('drop column `' ~ column.name ~ '`') -%}
    {%- endif -%}
  {%- endfor -%}
  {%- for column in source_columns if column.name not in current -%}
    {%- do changes.append('add column `' ~ column.name ~ '` ' ~ column.data_type) -%}
    {%- do current.append(column.name) -%}
  {%- endfor -%}
  {#- Place each column right after its predecessor in the model, in the model's order. -#}
  {%- for name in names -%}
    {%- set previous = names[loop.index0 - 1] if not loop.first else none -%}
    {%- set at = current.index(name) -%}
    {%- set actual = current[at - 1] if at > 0 else none -%}
    {%- if actual != previous -%}
      {%- do current.remove(name) -%}
      {%- if previous is none -%}
        {%- do changes.append('alter column `' ~ name ~ '` first') -%}
        {%- do current.insert(0, name) -%}
      {%- else -%}
        {%- do changes.append('alter column `' ~ name ~ '` after `' ~ previous ~ '`') -%}
        {%- do current.insert(current.index(previous) + 1, name) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {%- for change in changes -%}
    {%- do run_query('alter table ' ~ target_relation ~ ' ' ~ change) -%}
  {%- endfor -%}
  {%- if changes -%}
    {{ log('schema of ' ~ target_relation ~ ' follows the model: ' ~ (changes | join('; ')), info=True) }}
  {%- endif -%}
  {{ return(source_columns) }}
{% endmacro %}
