"""`lakehouse stack`: the production-shaped lakehouse on one machine, without Docker.

PostgreSQL (the Iceberg JDBC catalog), an S3 server (the warehouse), Trino (dbt's
production engine, SQL for people and dashboards) and a Spark standalone cluster, all on
loopback, from pinned real distributions. See `services.py`.
"""
