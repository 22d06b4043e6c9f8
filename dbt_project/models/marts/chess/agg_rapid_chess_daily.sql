{#- Rapid games per player and local day: totals and every game as a struct, in end-time
    order. Incremental MERGE on (player, game_date): each run recomputes whole days from
    the newest day already published (minus chess_lookback_days) onwards. -#}
{{ config(unique_key=['player', 'game_date']) }}

with

games as (

    select * from {{ ref('fct_chess_games') }}
    where time_class = 'rapid'
      and {{ chess_incremental_window('game_date', partition_floor=true) }}

),

daily as (

    select
        player,
        year,
        month,
        game_date,
        avg(cast(my_rating as double)) as average_elo,
        cast(count(*) as integer) as total_games,
        cast(sum(case when my_result = 'win' then 1 else 0 end) as integer) as total_wins,
        cast(sum(case when my_result = 'loss' then 1 else 0 end) as integer) as total_losses,
        cast(sum(case when my_result = 'draw' then 1 else 0 end) as integer) as total_draws,
        {{ ordered_struct_array(
            fields=[
                ('game_uuid', 'uuid', string_type()),
                ('game_date', 'game_date', 'date'),
                ('my_rating', 'my_rating', 'double'),
                ('opponent_rating', 'opponent_rating', 'double'),
                ('my_result', 'my_result', string_type()),
                ('opponent_result', 'opponent_result', string_type()),
                ('number_of_rounds', 'number_of_rounds', 'double'),
                ('my_remaining_time_seconds', 'my_remaining_time_seconds', 'double'),
                ('opening', 'opening', string_type()),
            ],
            order_by=['end_time', 'uuid'],
        ) }} as game_details
    from games
    group by player, year, month, game_date

)

select * from daily
