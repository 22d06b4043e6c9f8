{#- Every game from the tracked player's side of the board: my_* / opponent_* columns
    (my_result / opponent_result: each side's chess.com result code), the one outcome
    mapping (my_outcome / opponent_outcome), the one opening rule, and the local game date.
    Games whose archive owner is neither side (player_color NULL) have no "my" side and
    are dropped. -#}
with

games as (

    select * from {{ ref('stg_chesscom__games') }}
    where player_color in ('white', 'black')

),

players as (

    select lower(player) as player, timezone from {{ ref('chess_players') }}

),

oriented as (

    select
        games.player,
        games.uuid,
        games.end_time,
        coalesce(players.timezone, '{{ var("chess_timezone") }}') as timezone,
        games.time_class,
        games.time_control,
        games.player_color as my_color,
        case when games.player_color = 'white' then games.white_rating
             else games.black_rating end as my_rating,
        case when games.player_color = 'white' then games.black_username
             else games.white_username end as opponent_username,
        case when games.player_color = 'white' then games.black_rating
             else games.white_rating end as opponent_rating,
        case when games.player_color = 'white' then games.white_first_move
             else games.black_first_move end as my_first_move,
        case when games.player_color = 'white' then games.black_first_move
             else games.white_first_move end as opponent_first_move,
        case when games.player_color = 'white' then games.white_remaining_time_seconds
             else games.black_remaining_time_seconds end as my_remaining_time_seconds,
        case when games.player_color = 'white' then games.black_remaining_time_seconds
             else games.white_remaining_time_seconds end as opponent_remaining_time_seconds,
        case when games.player_color = 'white' then games.white_result
             else games.black_result end as my_result,
        case when games.player_color = 'white' then games.black_result
             else games.white_result end as opponent_result,
        games.number_of_rounds,
        games.termination,
        {{ chess_termination_reason('games.white_result', 'games.black_result') }}
            as termination_reason,
        games.opening_slug

    from games
    left join players on games.player = players.player

),

final as (

    select
        player,
        uuid,
        year(game_date) as year,
        month(game_date) as month,
        game_date,
        end_time,
        time_class,
        time_control,
        my_color,
        my_rating,
        opponent_username,
        opponent_rating,
        my_first_move,
        opponent_first_move,
        my_remaining_time_seconds,
        opponent_remaining_time_seconds,
        my_result,
        opponent_result,
        {{ chess_outcome('my_result') }} as my_outcome,
        {{ chess_outcome('opponent_result') }} as opponent_outcome,
        number_of_rounds,
        termination,
        {{ chess_opening('opening_slug') }} as opening,
        termination_reason,
        timezone
    from (
        select oriented.*, {{ local_date('end_time', 'timezone') }} as game_date
        from oriented
    ) as dated

)

select * from final
