"""Shared building blocks of the lakehouse DAGs (one DAG file per source in dags/).

    config.py  PipelineConfig, SourceSpec: every knob, from environment variables, no I/O
    months.py  which months or days a data interval covers (pure, no Airflow imports)
    tasks.py   default_args, the bronze Assets and the task factories:
               [spark_conf ->] ingest (outlet: the source's Asset), transform_audit_publish

Nothing here names a source: a source DAG declares `SOURCE = SourceSpec(...)` and calls
`tasks.ingest(cfg, SOURCE, first=..., last=...)`; `lakehouse_transform` lists the sources
whose assets it follows. See dags/README.md.
"""
