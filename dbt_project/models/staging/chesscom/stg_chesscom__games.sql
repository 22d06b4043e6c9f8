{#- chess.com games as the API describes them: renamed and typed only, one row per
    (player, uuid). -#}
with

source as (

    select * from {{ source('chesscom', 'chesscom_games') }}

),

renamed as (

    select
        player,
        uuid,
        archive_month,
        url as game_url,
        end_time,
        time_class,
        time_control,
        rules,
        rated as is_rated,
        lower(player_color) as player_color,
        white_username,
        cast(white_rating as integer) as white_rating,
        lower(white_result) as white_result,
        black_username,
        cast(black_rating as integer) as black_rating,
        lower(black_result) as black_result,
        white_first_move,
        black_first_move,
        cast(white_final_clock_seconds as double) as white_remaining_time_seconds,
        cast(black_final_clock_seconds as double) as black_remaining_time_seconds,
        cast(full_moves as integer) as number_of_rounds,
        pgn_termination as termination,
        pgn_eco as eco_code,
        opening_slug,
        _fetched_at as fetched_at

    from source

)

select * from renamed
