{#- Stock dbt-spark lists relations with `SHOW TABLE EXTENDED`, which Iceberg v2 catalogs
    refuse; its fallback `show tables` omits Iceberg views, so views vanished from dbt's
    cache (FACTS.md). Combine `show tables` and `show views`, in the shape dbt-spark's
    fallback parser expects (namespace, tableName, isTemporary). -#}
{% macro spark__list_relations_without_caching(relation) %}
  {% call statement('list_tables', fetch_result=True) -%}
    show tables in {{ relation.schema }}
  {%- endcall %}
  {% set tables = load_result('list_tables').table %}
  {% call statement('list_views', fetch_result=True) -%}
    show views in {{ relation.schema }}
  {%- endcall %}
  {% set views = load_result('list_views').table %}
  {% set view_names = [] %}
  {% for row in views %}
    {% if not row[2] %}{% do view_names.append(row[1]) %}{% endif %}
  {% endfor %}
  {% set rows = [] %}
  {% for row in tables %}
    {% if not row[2] and row[1] not in view_names %}
      {% do rows.append([row[0], row[1], false, 'Type: TABLE\nProvider: iceberg']) %}
    {% endif %}
  {% endfor %}
  {% for name in view_names %}
    {% do rows.append([relation.schema, name, false, 'Type: VIEW\nProvider: iceberg']) %}
  {% endfor %}
  {% do return(rows) %}
{% endmacro %}
