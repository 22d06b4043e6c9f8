{#- How the player's games end, per month and time class: the termination reason (the
    loser's result code for decisive games, the shared code for draws: resigned,
    checkmated, timeout, abandoned, agreed, repetition, ...) by the player's outcome (win /
    loss / draw). Incremental MERGE; each run deletes and recomputes whole months from the
    last one published. -#}
{#- What incremental runs delete and re-read (macro chess_window_starts). -#}
{%- set window = {'column': 'end_time', 'cursor': 'last_game_date', 'month_aligned': true} -%}
{{ config(
    unique_key=['player', 'year', 'month', 'time_class', 'termination_reason', 'my_outcome'],
    chess_window=window,
) }}

with

games as (

    select * from {{ ref('int_chess_games_oriented') }}
    where {{ chess_incremental_window(window) }}

),

final as (

    select
        player,
        cast(year as integer) as year,
        cast(month as integer) as month,
        time_class,
        coalesce(termination_reason, 'unknown') as termination_reason,
        my_outcome,
        cast(count(*) as integer) as total_games,
        max(game_date) as last_game_date
    from games
    group by player, year, month, time_class, coalesce(termination_reason, 'unknown'), my_outcome

)

select * from final
