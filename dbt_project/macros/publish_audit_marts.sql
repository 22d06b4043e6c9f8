{#- Trino write-audit-publish, step 3: after `dbt build` built and tested every mart in
    `source_schema` (var marts_schema=marts_audit), replace each published mart with its
    audited copy in one atomic statement (Iceberg CREATE OR REPLACE keeps the table's
    history; readers see the old or the new snapshot, never a mix).
    `dbt run-operation publish_audit_marts --args '{source_schema: marts_audit, target_schema: marts}'` -#}
{% macro publish_audit_marts(source_schema='marts_audit', target_schema='marts') %}
  {%- set published = [] -%}
  {%- do run_query('create schema if not exists ' ~ target.database ~ '.' ~ target_schema) -%}
  {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.schema == source_schema
           and node.config.materialized in ('table', 'incremental') -%}
    {%- set partitioning = (node.config.get('properties') or {}).get('partitioning') -%}
    {%- set sql -%}
      create or replace table {{ target.database }}.{{ target_schema }}.{{ node.alias }}
      {%- if partitioning %} with (partitioning = {{ partitioning }}){% endif %}
      as select * from {{ target.database }}.{{ source_schema }}.{{ node.alias }}
    {%- endset -%}
    {%- do run_query(sql) -%}
    {%- do published.append(node.alias) -%}
  {%- endfor -%}
  {{ log('published ' ~ (published | join(', ')) ~ ' from ' ~ source_schema ~ ' to ' ~ target_schema, info=True) }}
{% endmacro %}
