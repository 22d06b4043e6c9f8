{#- Generic test: the combination of `columns` is unique (the key of a per-player table).
    dbt_utils has one, but packages cannot be fetched offline. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
