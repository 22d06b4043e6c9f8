{#- Every heart-rate sample with the local calendar day it belongs to, in the account's time
    zone (health_accounts seed, else var health_timezone, default UTC): a sample at 23:30
    UTC is on the next day in Europe/Madrid. Kept at sample grain, not aggregated, so that
    daily_health's window on `sampled_at` (a raw bronze column) prunes bronze files; a
    filter on an aggregated local day could not be pushed down to the table scan. -#}
with

samples as (

    select * from {{ ref('stg_oura__heartrate') }}

),

accounts as (

    select account, {{ seed_text('timezone') }} as timezone from {{ ref('health_accounts') }}

),

zoned as (

    select
        samples.account,
        samples.sampled_at,
        samples.heartrate_source,
        samples.bpm,
        coalesce(accounts.timezone, '{{ var("health_timezone") }}') as timezone
    from samples
    left join accounts on samples.account = accounts.account

),

final as (

    select
        account,
        sampled_at,
        {{ local_date('sampled_at', 'timezone') }} as day,
        heartrate_source,
        bpm,
        timezone
    from zoned

)

select * from final
