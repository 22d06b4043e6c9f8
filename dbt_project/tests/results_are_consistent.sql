{#- Each game's two outcomes agree: a win faces a loss, a draw faces a draw. -#}
{{ config(tags=['chess']) }}
select player, uuid, my_result, opponent_result, my_outcome, opponent_outcome
from {{ ref('fct_chess_games') }}
where not (
    (my_outcome = 'win' and opponent_outcome = 'loss')
    or (my_outcome = 'loss' and opponent_outcome = 'win')
    or (my_outcome = 'draw' and opponent_outcome = 'draw')
)
