{#- Results by the time left on the player's clock at the end of the game, per month and
    time class. Buckets (seconds): '0-10', '10-30', '30-60', '60-180', '180-600', '600+';
    'no clock' when the PGN has no [%clk] for the player (e.g. no move played); by the
    player's outcome (win / loss / draw). Incremental MERGE; each run deletes and
    recomputes whole months from the last one published. -#}
{#- What incremental runs delete and re-read (macro chess_window_starts). -#}
{%- set window = {'column': 'game_date', 'cursor': 'last_game_date', 'month_aligned': true} -%}
{{ config(
    unique_key=['player', 'year', 'month', 'time_class', 'clock_bucket', 'my_outcome'],
    chess_window=window,
) }}

with

games as (

    select
        *,
        case
            when my_remaining_time_seconds is null then 'no clock'
            when my_remaining_time_seconds < 10 then '0-10'
            when my_remaining_time_seconds < 30 then '10-30'
            when my_remaining_time_seconds < 60 then '30-60'
            when my_remaining_time_seconds < 180 then '60-180'
            when my_remaining_time_seconds < 600 then '180-600'
            else '600+'
        end as clock_bucket
    from {{ ref('fct_chess_games') }}
    where {{ chess_incremental_window(window, partition_floor=true) }}

),

final as (

    select
        player,
        year,
        month,
        time_class,
        clock_bucket,
        my_outcome,
        cast(count(*) as integer) as total_games,
        avg(my_remaining_time_seconds) as average_remaining_time_seconds,
        max(game_date) as last_game_date
    from games
    group by player, year, month, time_class, clock_bucket, my_outcome

)

select * from final
