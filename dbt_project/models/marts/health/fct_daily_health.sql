{#- The canonical health day: one row per (account, day) over every health source, `day`
    the wake-up day (int_health__daily_by_source), units in the column names.

    Source preference, per group (sleep, recovery, activity; macro health_canonical_columns):
    of the sources that measured the group that day (has_<group>), the account's
    `preferred_source` in the health_accounts seed wins, then the order of var
    health_source_preference (oura, whoop). The group's columns all come from that one
    source and `<group>_source`, `_record_id`, `_run_id` say which record of which run.
    Each vendor's own scores (`oura_*`, `whoop_*`) are kept apart whatever the preference.

    Incremental like daily_health: each account's days from its newest day minus
    health_lookback_days are deleted (pre-hook) and recomputed. -#}
{{ config(
    unique_key=['account', 'day'],
    pre_hook="{{ health_delete_window_hook() }}",
) }}

{%- set columns = health_canonical_columns() %}

with

by_source as (

    select * from {{ ref('int_health__daily_by_source') }}
    where {{ health_incremental_window('day') }}

),

accounts as (

    select account, {{ seed_text('preferred_source') }} as preferred_source
    from {{ ref('health_accounts') }}

),

ranked as (

    select
        by_source.*,
        -- The rank as a sortable string, ties (sources outside the preference) by name.
        concat(
            lpad(cast({{ health_source_rank('by_source.source', 'accounts.preferred_source') }}
                 as {{ string_type() }}), 3, '0'),
            by_source.source
        ) as source_key
    from by_source
    left join accounts on by_source.account = accounts.account

),

{#- One GROUP BY: a group's columns are each min_by(column, key) with the same key, NULL
    for the sources that did not measure the group, so they all come from the one best
    source (min_by skips NULL keys); the vendors' own scores are max() of the one source
    that has them. -#}
final as (

    select
        account,
        cast(year(day) as integer) as year,
        cast(month(day) as integer) as month,
        day,
        {%- for name, kind, group in columns if name != 'day' %}
        {%- if name == 'sources' %}
            {%- set value = sorted_distinct_list('source') %}
        {%- elif group == 'native' %}
            {%- set value = 'max(' ~ name ~ ')' %}
        {%- else %}
            {%- set value = 'min_by(' ~ ('source' if name == group ~ '_source' else name)
                ~ ', case when has_' ~ group ~ ' then source_key end)' %}
        {%- endif %}
        cast({{ value }} as {{ health_type(kind) }}) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from ranked
    group by account, day

)

select * from final
