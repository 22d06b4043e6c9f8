{#- Oura heart-rate samples, renamed and typed only: one row per (account, instant, source).
    `sampled_at` is the UTC instant; source: awake, rest, sleep, workout, live, session. -#}
with

samples as (

    {#- Not named `source`: the table has a column of that name. #}
    select * from {{ source('oura', 'oura_heartrate') }}

),

renamed as (

    select
        account,
        {{ adapter.quote('timestamp') }} as sampled_at,
        cast(bpm as integer) as bpm,
        lower(source) as heartrate_source,
        _fetched_at as fetched_at

    from samples

)

select * from renamed
