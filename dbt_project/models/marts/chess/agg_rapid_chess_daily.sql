{#- Rapid games per player and local day: totals and every game as a struct, in end-time
    order. Incremental MERGE on (player, game_date): each run deletes and recomputes whole
    days from the newest day already published (minus chess_lookback_days) onwards, so a
    day whose games all vanished from bronze leaves the mart. -#}
{#- What incremental runs delete and re-read (macro chess_window_starts). -#}
{%- set window = {'column': 'game_date'} -%}
{{ config(
    unique_key=['player', 'game_date'],
    chess_window=window,
) }}

with

games as (

    select * from {{ ref('fct_chess_games') }}
    where time_class = 'rapid'
      and {{ chess_incremental_window(window, partition_floor=true) }}

),

daily as (

    select
        player,
        year,
        month,
        game_date,
        avg(cast(my_rating as double)) as average_elo,
        cast(count(*) as integer) as total_games,
        cast(sum(case when my_outcome = 'win' then 1 else 0 end) as integer) as total_wins,
        cast(sum(case when my_outcome = 'loss' then 1 else 0 end) as integer) as total_losses,
        cast(sum(case when my_outcome = 'draw' then 1 else 0 end) as integer) as total_draws,
        {{ ordered_struct_array(
            fields=[
                ('game_uuid', 'uuid', string_type()),
                ('game_date', 'game_date', 'date'),
                ('my_rating', 'my_rating', 'double'),
                ('opponent_rating', 'opponent_rating', 'double'),
                ('my_result', 'my_result', string_type()),
                ('opponent_result', 'opponent_result', string_type()),
                ('my_outcome', 'my_outcome', string_type()),
                ('opponent_outcome', 'opponent_outcome', string_type()),
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
