{#- Oura daily SpO2 documents, renamed and typed only: one row per (account, document id). -#}
with

source as (

    select * from {{ source('oura', 'oura_daily_spo2') }}

),

renamed as (

    select
        account,
        id as daily_spo2_id,
        day,
        cast(spo2_percentage.average as double) as spo2_average,
        cast(breathing_disturbance_index as integer) as breathing_disturbance_index,
        _run_id as run_id,
        _fetched_at as fetched_at

    from source

)

select * from renamed
