{#- The player's worst 5 rapid openings per pieces colour (macro ranked_openings). Rebuilt in
    full each run (folder config marts/chess/rebuilt); a few rows per player: unpartitioned. -#}
{{ config(partition_by=none, properties={}) }}

{{ ranked_openings('worst', n=5) }}
