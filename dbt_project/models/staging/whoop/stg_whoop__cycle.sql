{#- WHOOP physiological cycles, renamed and typed only: one row per (account, cycle id). A
    cycle runs from one sleep onset to the next; the current one is open (no end). -#}
with

source as (

    select * from {{ source('whoop', 'whoop_cycle') }}

),

renamed as (

    select
        account,
        id as cycle_id,
        start as cycle_start_at,
        {{ adapter.quote('end') }} as cycle_end_at,
        timezone_offset,
        upper(score_state) as score_state,
        cast(score.strain as double) as strain,
        cast(score.kilojoule as double) as kilojoule,
        cast(score.average_heart_rate as integer) as average_heart_rate,
        cast(score.max_heart_rate as integer) as max_heart_rate,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
