{#- One row per game per tracked player, from that player's side of the board (the
    seed's fct_chess_games plus `player`, and each side's outcome next to its result
    code). Incremental MERGE on (player, uuid): each run deletes and re-reads the games
    that ended in the last few days per player (chess_lookback_days), so a game that
    vanished from bronze leaves the mart, and reads new players whole. -#}
{#- What incremental runs delete and re-read (macro chess_window_starts). -#}
{%- set window = {'column': 'end_time'} -%}
{{ config(
    unique_key=['player', 'uuid'],
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
        uuid,
        cast(year as integer) as year,
        cast(month as integer) as month,
        game_date,
        end_time,
        time_class,
        time_control,
        my_color,
        cast(my_rating as integer) as my_rating,
        opponent_username,
        cast(opponent_rating as integer) as opponent_rating,
        my_first_move,
        opponent_first_move,
        cast(my_remaining_time_seconds as double) as my_remaining_time_seconds,
        cast(opponent_remaining_time_seconds as double) as opponent_remaining_time_seconds,
        my_result,
        opponent_result,
        my_outcome,
        opponent_outcome,
        cast(number_of_rounds as integer) as number_of_rounds,
        termination,
        opening
    from games

)

select * from final
