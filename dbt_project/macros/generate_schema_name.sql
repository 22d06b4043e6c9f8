{#- Custom schemas are used verbatim (`marts`, not `<target schema>_marts`): the published
    namespaces are fixed names that dashboards and other engines read. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
