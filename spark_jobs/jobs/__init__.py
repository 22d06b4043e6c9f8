"""Job entrypoints that spark-submit (or AWS Glue) runs; each only wires args to a module."""
