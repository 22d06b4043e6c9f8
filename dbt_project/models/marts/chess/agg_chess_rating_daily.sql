{#- Rating history per player and time class: the rating after the last game of each local
    day (an ELO chart that does not zig-zag through intra-day games), with the day's range
    and games. Incremental MERGE on (player, time_class, game_date); each run deletes and
    recomputes whole days from the newest one published (minus chess_lookback_days). -#}
{#- What incremental runs delete and re-read (macro chess_window_starts). -#}
{%- set window = {'column': 'game_date'} -%}
{{ config(
    unique_key=['player', 'time_class', 'game_date'],
    chess_window=window,
) }}

with

games as (

    select * from {{ ref('fct_chess_games') }}
    where my_rating is not null
      and {{ chess_incremental_window(window, partition_floor=true) }}

),

ordered as (

    select
        games.*,
        row_number() over (
            partition by player, time_class, game_date order by end_time desc, uuid desc
        ) as recency
    from games

),

daily as (

    select
        player,
        time_class,
        year,
        month,
        game_date,
        max(case when recency = 1 then my_rating end) as rating,
        min(my_rating) as min_rating,
        max(my_rating) as max_rating,
        cast(count(*) as integer) as games_played
    from ordered
    group by player, time_class, year, month, game_date

)

select * from daily
