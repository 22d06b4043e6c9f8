{#- One row per game per tracked player, from that player's side of the board (the
    seed's fct_chess_games plus `player`). Incremental MERGE on (player, uuid): each run
    re-reads only the last few days per player (chess_lookback_days) and new players. -#}
{{ config(unique_key=['player', 'uuid']) }}

with

games as (

    select * from {{ ref('int_chess_games_oriented') }}
    where {{ chess_incremental_window('end_time') }}

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
        cast(number_of_rounds as integer) as number_of_rounds,
        termination,
        opening
    from games

)

select * from final
