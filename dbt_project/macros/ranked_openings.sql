{#- Top (direction='best') or bottom ('worst') `n` openings by win_ratio per player and
    pieces colour, over all of the player's rapid games. Only openings played in at least
    `chess_min_opening_share` (1 %) of the player's rapid games qualify; 'overall' rows and
    unknown openings are excluded. Ties: more games first, then opening name; rank 1 is
    the best (resp. worst). -#}
{% macro ranked_openings(direction, n=5) %}
with

games as (

    select player, my_color, opening, my_outcome
    from {{ ref('fct_chess_games') }}
    where time_class = 'rapid' and opening is not null

),

rapid_totals as (

    select player, count(*) as rapid_games
    from {{ ref('fct_chess_games') }}
    where time_class = 'rapid'
    group by player

),

per_opening as (

    select
        player,
        my_color as pieces_color,
        opening,
        count(*) as total_games,
        {{ ratio_2dp("sum(case when my_outcome = 'win' then 1 else 0 end)", 'count(*)') }}
            as win_ratio
    from games
    group by player, my_color, opening

),

eligible as (

    select per_opening.*
    from per_opening
    inner join rapid_totals on per_opening.player = rapid_totals.player
    where per_opening.total_games >= {{ var('chess_min_opening_share') }} * rapid_totals.rapid_games

),

ranked as (

    select
        player,
        pieces_color,
        opening,
        win_ratio,
        cast(total_games as integer) as total_games,
        cast(row_number() over (
            partition by player, pieces_color
            order by win_ratio {{ 'desc' if direction == 'best' else 'asc' }},
                     total_games desc, opening asc
        ) as integer) as rank
    from eligible

)

select player, pieces_color, opening, win_ratio, rank, total_games
from ranked
where rank <= {{ n }}
{% endmacro %}
