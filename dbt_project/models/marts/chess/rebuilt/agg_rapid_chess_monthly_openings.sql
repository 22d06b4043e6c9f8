{#- Rapid results per player by year/month, pieces colour and opening, with GROUPING SETS
    (the seed's six sets, each also grouped by player). Rolled-up dimensions read
    'overall'. Year-level rows have month = 0 and period_grain = 'year' (never a NULL month
    that a dashboard filter would silently drop). Rebuilt in full each run (a small
    aggregate; folder config marts/chess/rebuilt). -#}

with

games as (

    select
        player,
        year,
        month,
        my_color,
        coalesce(opening, 'unknown') as opening,
        my_rating,
        my_outcome
    from {{ ref('fct_chess_games') }}
    where time_class = 'rapid'

),

grouped as (

    select
        player,
        year,
        month,
        my_color,
        opening,
        grouping(month) as month_rolled_up,
        grouping(my_color) as color_rolled_up,
        grouping(opening) as opening_rolled_up,
        avg(cast(my_rating as double)) as average_elo,
        count(*) as total_games,
        sum(case when my_outcome = 'win' then 1 else 0 end) as total_wins,
        sum(case when my_outcome = 'loss' then 1 else 0 end) as total_losses,
        sum(case when my_outcome = 'draw' then 1 else 0 end) as total_draws
    from games
    group by grouping sets (
        (player, year, month, my_color, opening),
        (player, year, month, my_color),
        (player, year, my_color, opening),
        (player, year, month),
        (player, year, my_color),
        (player, year)
    )

),

final as (

    select
        player,
        cast(year as integer) as year,
        cast(case when month_rolled_up = 1 then 0 else month end as integer) as month,
        case when month_rolled_up = 1 then 'year' else 'month' end as period_grain,
        case when color_rolled_up = 1 then 'overall' else my_color end as pieces_color,
        case when opening_rolled_up = 1 then 'overall' else opening end as opening,
        case when color_rolled_up = 1 and opening_rolled_up = 1 then average_elo end
            as average_elo,
        cast(total_games as integer) as total_games,
        cast(total_wins as integer) as total_wins,
        cast(total_losses as integer) as total_losses,
        cast(total_draws as integer) as total_draws,
        {{ ratio_2dp('total_wins', 'total_games') }} as win_ratio
    from grouped

)

select * from final
