"""Shared building blocks of the lakehouse DAGs (one DAG file per source in dags/).

    config.py  PipelineConfig: every knob, from environment variables, read without I/O
    months.py  which archive months a data interval covers (pure, no Airflow imports)
    tasks.py   default_args and the task factories: spark_conf -> ingest -> transform

A new source (Oura, WHOOP) adds one DAG file that calls `tasks.ingest_and_publish(...)`
with its own job script and arguments; see dags/README.md.
"""
