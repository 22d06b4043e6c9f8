"""The serving layer: a small DuckDB file that exposes the Iceberg marts to dashboards.

    lakehouse dashboards refresh          # rewrite $LAKEHOUSE_HOME/serving/lakehouse.duckdb

Superset (its own venv, `lakehouse dashboards serve`) reads the marts through DuckDB on
the embedded lakehouse: the file holds no data, only one view per mart,
`marts.<t> AS SELECT * FROM iceberg_scan('<metadata.json>', snapshot_from_id => <id>)`,
pinned to the snapshot pyiceberg reports as the table's current (`main`) one. A
write-audit-publish run that is still auditing, or that failed, is therefore never visible.
The file is rebuilt after every successful local publish (`lakehouse transform`) and
swapped in with one `os.replace`, so Superset's read-only connections see either the old
or the new file, never a half-written one, and never hold a lock a writer needs.

Production dashboards read the same marts through Trino instead (no file involved).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from spark_jobs.settings import Settings, SettingsError

MARTS_NAMESPACE = "marts"
SERVING_FILE = "lakehouse.duckdb"


@dataclass(frozen=True)
class MartSource:
    """Where DuckDB reads one mart: its metadata file and the published snapshot."""

    name: str
    metadata_path: str
    snapshot_id: int | None
    arrow_schema: Any = None
    """The table's schema as Arrow (used only for a mart without a snapshot yet)."""


def serving_path(settings: Settings) -> Path:
    """Path of the DuckDB serving file of this lakehouse."""
    return settings.home / "serving" / SERVING_FILE


def duckdb_config() -> dict[str, str | bool]:
    """DuckDB settings that load the iceberg extension from the PyPI wheel, offline.

    extensions.duckdb.org is not reachable: the extension binaries come from the pinned
    `duckdb-ext-*` packages, and DuckDB must never try to download one.
    """
    import duckdb_ext

    return {
        "extension_directory": duckdb_ext.get_extension_dir(),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def local_path(location: str) -> str:
    """A plain filesystem path for a `file:` URI (pyiceberg writes file:/// locations)."""
    if location.startswith("file:"):
        return unquote(urlparse(location).path)
    if "://" in location:
        raise SettingsError(
            f"{location} is not on the local filesystem: the DuckDB serving file only "
            "covers the embedded lakehouse (production dashboards read Trino: "
            "LAKEHOUSE_SUPERSET_ENGINE=trino)"
        )
    return location


def mart_sources(settings: Settings) -> list[MartSource]:
    """Every table of namespace `marts` with its current metadata file and snapshot."""
    from spark_jobs.common.catalog import load_pyiceberg_catalog

    catalog = load_pyiceberg_catalog(settings)
    if (MARTS_NAMESPACE,) not in {tuple(ns) for ns in catalog.list_namespaces()}:
        return []
    sources = []
    for identifier in sorted(catalog.list_tables(MARTS_NAMESPACE)):
        table = catalog.load_table(identifier)
        snapshot = table.metadata.current_snapshot_id
        sources.append(
            MartSource(
                name=identifier[-1],
                metadata_path=local_path(table.metadata_location),
                snapshot_id=snapshot,
                arrow_schema=table.schema().as_arrow() if snapshot is None else None,
            )
        )
    return sources


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_mart(con, source: MartSource) -> None:
    target = f'{MARTS_NAMESPACE}."{source.name}"'
    if source.snapshot_id is None:
        # A mart created but never published has no snapshot for iceberg_scan to read:
        # an empty table with the Iceberg schema keeps the dashboards' queries valid.
        con.register("_empty_mart", source.arrow_schema.empty_table())
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM _empty_mart")
        con.unregister("_empty_mart")
        return
    con.execute(
        f"CREATE VIEW {target} AS SELECT * FROM iceberg_scan("
        f"{_quote(source.metadata_path)}, snapshot_from_id => {int(source.snapshot_id)})"
    )


def refresh_serving(settings: Settings) -> Path:
    """Rewrite the DuckDB serving file: one view per mart on its published snapshot.

    Args:
        settings: the lakehouse deployment; its warehouse must be a local folder.

    Returns:
        The path of the serving file ($LAKEHOUSE_HOME/serving/lakehouse.duckdb).

    Raises:
        SettingsError: the warehouse is not local (use Trino for dashboards there).
    """
    import duckdb

    if not settings.warehouse_is_local:
        raise SettingsError(
            f"the DuckDB serving file needs a local warehouse (LAKEHOUSE_WAREHOUSE="
            f"{settings.warehouse}); on a remote deployment dashboards read Trino: set "
            "LAKEHOUSE_SUPERSET_ENGINE=trino"
        )
    sources = mart_sources(settings)
    target = serving_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        con = duckdb.connect(str(tmp), config=duckdb_config())
        try:
            con.execute("LOAD iceberg")
            con.execute(f"CREATE SCHEMA {MARTS_NAMESPACE}")
            for source in sources:
                _create_mart(con, source)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return target
