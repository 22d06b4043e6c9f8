{#- The player's worst 5 rapid openings per pieces colour (macro ranked_openings). Rebuilt in
    full each run; on Spark through INSERT OVERWRITE so the write lands on the audit branch. -#}
{{ config(
    materialized=('incremental' if target.type == 'spark' else 'table'),
    incremental_strategy=('insert_overwrite' if target.type == 'spark' else none),
    partition_by=none,
    properties={},
    merge_partition_floor=false,
) }}

{{ ranked_openings('worst', n=5) }}
