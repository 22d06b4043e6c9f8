"""Creating and writing Iceberg tables in the `lake` catalog.

Tables are declared once (name, StructType, partition spec) and created on first use;
columns added to a schema later are added to the table (additive evolution only).
Writes are single Iceberg commits: an append, or a MERGE on the natural key, so a
failed job leaves the table as it was and a rerun converges to the same rows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from spark_jobs.settings import CATALOG_NAME

DEFAULT_PROPERTIES = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    # Copy-on-write keeps files delete-free, so every reader (Trino, pyiceberg, DuckDB)
    # sees plain data files; our upserts touch one or two month partitions.
    "write.merge.mode": "copy-on-write",
    "write.update.mode": "copy-on-write",
    "write.delete.mode": "copy-on-write",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


@dataclass(frozen=True)
class TableSpec:
    """A table the jobs own: `namespace.name`, its schema, partitioning and keys."""

    namespace: str
    name: str
    schema: StructType
    partition_by: Sequence[str] = ()
    keys: Sequence[str] = ()
    comment: str = ""
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def identifier(self) -> str:
        return f"{CATALOG_NAME}.{self.namespace}.{self.name}"


def _column_ddl(schema: StructType) -> str:
    cols = []
    for f in schema.fields:
        not_null = "" if f.nullable else " NOT NULL"
        cols.append(f"`{f.name}` {f.dataType.simpleString()}{not_null}")
    return ",\n  ".join(cols)


def ensure_table(spark: SparkSession, spec: TableSpec) -> None:
    """Create the namespace and table if missing; add columns new to the spec and relax
    columns it made nullable."""
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG_NAME}.{spec.namespace}")
    if not spark.catalog.tableExists(spec.identifier):
        props = {**DEFAULT_PROPERTIES, **spec.properties}
        partition = f"PARTITIONED BY ({', '.join(spec.partition_by)})" if spec.partition_by else ""
        tblprops = ", ".join(f"'{k}'='{v}'" for k, v in props.items())
        comment = spec.comment.replace("'", "\\'")
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {spec.identifier} (\n  {_column_ddl(spec.schema)}\n)"
            f" USING iceberg {partition} COMMENT '{comment}' TBLPROPERTIES ({tblprops})"
        )
        return
    existing = {f.name: f for f in spark.table(spec.identifier).schema.fields}
    for f in spec.schema.fields:
        if f.name not in existing:
            spark.sql(
                f"ALTER TABLE {spec.identifier} ADD COLUMN `{f.name}` {f.dataType.simpleString()}"
            )
        elif f.nullable and not existing[f.name].nullable:
            # A column the spec relaxed (required -> optional): a metadata-only change.
            spark.sql(f"ALTER TABLE {spec.identifier} ALTER COLUMN `{f.name}` DROP NOT NULL")


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select exactly the schema's columns, in order, cast to its types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def latest_by_key(df: DataFrame, keys: Sequence[str], order_by: Sequence[str]) -> DataFrame:
    """Keep one row per key: the greatest by `order_by` (descending, nulls last)."""
    window = Window.partitionBy(*keys).orderBy(*[F.col(c).desc_nulls_last() for c in order_by])
    return df.withColumn("_rn", F.row_number().over(window)).where("_rn = 1").drop("_rn")


def append(df: DataFrame, spec: TableSpec) -> None:
    """Append rows in one commit (for append-only tables)."""
    conform(df, spec.schema).writeTo(spec.identifier).append()


def merge(
    spark: SparkSession,
    df: DataFrame,
    spec: TableSpec,
    *,
    newer_than: str | None = None,
    delete_scope: str | None = None,
    target_filter: str | None = None,
) -> None:
    """MERGE rows into the table on its keys, in one commit.

    Args:
        df: source rows; must be unique on `spec.keys` (use :func:`latest_by_key`).
        newer_than: a column; a matched row is only replaced when the source's value is
            >= the table's (so replaying older raw data never rolls a row back).
        delete_scope: SQL predicate on the table's columns: rows inside it that the source
            lacks are deleted (the source is the complete truth for that scope). They are
            found by an anti join and sent as tombstones, so the MERGE still only rewrites
            files holding matched rows (NOT MATCHED BY SOURCE would rewrite every file).
        target_filter: SQL predicate on the target alias `t` that holds for every row the
            merge can touch; it lets Iceberg prune partitions of the target scan.
    """
    if not spec.keys:
        raise ValueError(f"{spec.identifier} has no keys to merge on")
    keys = list(spec.keys)
    source = conform(df, spec.schema).withColumn("_delete", F.lit(False))
    if delete_scope:
        tombstones = (
            conform(spark.table(spec.identifier).where(delete_scope), spec.schema)
            .join(source.select(*keys), keys, "left_anti")
            .withColumn("_delete", F.lit(True))
        )
        source = source.unionByName(tombstones)
    view = f"_merge_src_{spec.namespace}_{spec.name}"
    source.createOrReplaceTempView(view)
    cols = [f"`{f.name}`" for f in spec.schema.fields]
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    if target_filter:
        on += f" AND ({target_filter})"
    newer = f" AND s.`{newer_than}` >= t.`{newer_than}`" if newer_than else ""
    _run_merge(
        spark,
        f"MERGE INTO {spec.identifier} t USING {view} s ON {on} "
        "WHEN MATCHED AND s._delete THEN DELETE "
        f"WHEN MATCHED AND NOT s._delete{newer} THEN UPDATE SET "
        + ", ".join(f"t.{c} = s.{c}" for c in cols)
        + " WHEN NOT MATCHED AND NOT s._delete THEN INSERT ("
        + ", ".join(cols)
        + ") VALUES ("
        + ", ".join(f"s.{c}" for c in cols)
        + ")",
    )
    spark.catalog.dropTempView(view)


# Another process committed to the table between this MERGE's scan and its commit (two
# sources' ingests closing their runs in the one run log, two accounts of one source):
# Iceberg refuses the commit and the table stays as it was, so the MERGE runs again on
# the new snapshot. Found by the crash suite's writers-at-once case.
_CONFLICT_MARKERS = ("concurrently modified", "CommitFailedException", "ValidationException")
MERGE_ATTEMPTS = 5


def mirror(spark: SparkSession, df: DataFrame, spec: TableSpec, scope: str | None) -> None:
    """Make the table's rows inside `scope` exactly `df` (newest per key wins, by
    `_fetched_at`), in one commit: a MERGE that also deletes what `df` lacks there, or a
    plain append when nothing in the table owns `scope` yet (a first read: the same commit
    at a fraction of the cost, no target scan, no tombstones)."""
    if scope and spark.table(spec.identifier).where(scope).isEmpty():
        append(df, spec)
        return
    merge(spark, df, spec, newer_than="_fetched_at", delete_scope=scope)


def _run_merge(spark: SparkSession, sql: str) -> None:
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        try:
            spark.sql(sql)
            return
        except Exception as exc:
            if attempt == MERGE_ATTEMPTS or not any(m in str(exc) for m in _CONFLICT_MARKERS):
                raise
            time.sleep(attempt * 0.5 + random.random())
