{#- The chess rules of this project, each defined once and used everywhere. -#}

{#- Outcome of one side's chess.com result code. The codes are those the Published-Data API
    documents for `white.result` / `black.result`; the marts keep the code itself in
    my_result / opponent_result and this mapping in my_outcome / opponent_outcome. Anything
    else maps to 'unknown', which the accepted_values tests on my_outcome/opponent_outcome
    (and the chess_result_code tests on the codes) reject: a new API code stops the publish
    instead of being counted silently as a loss. -#}
{% macro chess_outcome_codes() %}
  {{ return({
    'win': ['win'],
    'loss': ['checkmated', 'resigned', 'timeout', 'abandoned', 'lose',
             'kingofthehill', 'threecheck', 'bughousepartnerlose'],
    'draw': ['agreed', 'repetition', 'stalemate', 'insufficient', '50move',
             'timevsinsufficient'],
  }) }}
{% endmacro %}

{% macro chess_outcome(result_code) -%}
  case
  {%- for outcome, codes in chess_outcome_codes().items() %}
    when lower({{ result_code }}) in ('{{ codes | join("', '") }}') then '{{ outcome }}'
  {%- endfor %}
    else 'unknown'
  end
{%- endmacro %}

{#- Generic test: every value of the column is a result code that chess_outcome_codes()
    knows, in lower case (NULL fails too). -#}
{% test chess_result_code(model, column_name) %}
{%- set codes = [] -%}
{%- for outcome_codes in chess_outcome_codes().values() %}{% do codes.extend(outcome_codes) %}{% endfor %}
select {{ column_name }} as result_code
from {{ model }}
where {{ column_name }} is null
   or {{ column_name }} not in ('{{ codes | join("', '") }}')
{% endtest %}

{#- The opening of a game, from the last path segment of its chess.com opening URL (`eco`
    field or PGN `[ECOUrl]`), e.g. `Sicilian-Defense-Najdorf-Variation-6.Be3`:

    1. drop the move suffix: everything from the first `-<digit>` or `...`
       (`Queens-Pawn-Opening-Chigorin-Variation-2...Nf6`, `Owens-Defense...3.Nc3-e6`);
    2. keep the words up to and including the first word naming an opening family --
       Opening, Defense, Defence, Game, Gambit, Attack, System -- so variations are
       dropped: `Sicilian Defense`, `Queens Pawn Opening`, `Italian Game`, `Kings Gambit`,
       `London System`, `Giuoco Piano Game`; a slug without such a word keeps all of
       step 1 (`Magnus-Sicilian...5.Qd2` -> `Magnus Sicilian`);
    3. dashes become spaces. No URL -> NULL (aggregates show it as 'unknown').

    The regexes use no backslashes, so Spark and Trino string literals read them alike.
    The Python twin in tests/integration/test_dbt_chess.py is written independently. -#}
{% macro chess_opening(slug) -%}
  {%- set base = regex_group(slug, '^(.*?)(?:[.][.][.]|-[0-9]|$)') -%}
  replace(
    coalesce(
      {{ regex_group(base, '^((?:[^-]+-)*?(?:Opening|Defense|Defence|Game|Gambit|Attack|System))(?:-|$)') }},
      {{ base }}
    ),
    '-', ' '
  )
{%- endmacro %}

{#- Why a game ended, from the result codes: the loser's code for decisive games, the
    shared code for draws (checkmated, resigned, timeout, abandoned, agreed, repetition,
    stalemate, insufficient, 50move, timevsinsufficient, ...). -#}
{% macro chess_termination_reason(white_result, black_result) -%}
  case when lower({{ white_result }}) = 'win' then lower({{ black_result }})
       else lower({{ white_result }}) end
{%- endmacro %}
