{#- Each game's two results agree: a win faces a loss, a draw faces a draw. -#}
{{ config(tags=['chess']) }}
select player, uuid, my_result, opponent_result
from {{ ref('fct_chess_games') }}
where not (
    (my_result = 'win' and opponent_result = 'loss')
    or (my_result = 'loss' and opponent_result = 'win')
    or (my_result = 'draw' and opponent_result = 'draw')
)
