"""dbt's documentation site for the lakehouse's models: `lakehouse docs`.

    lakehouse docs                   # generate on the local target, serve http://127.0.0.1:8580/
    lakehouse docs --port 9000
    lakehouse docs --no-serve        # generate only; prints the folder and the static page
    lakehouse docs --target trino    # the catalog from Trino (`lakehouse stack env`)

`dbt docs generate` runs the way `lakehouse transform` runs dbt (same project, profiles
and target, the embedded Spark session first on `local`), into
$LAKEHOUSE_HOME/dbt/docs-<target>/: manifest.json (every model, column description, test,
source and the lineage graph), catalog.json (each table's columns and types as
the warehouse has them now) and index.html. The published marts must exist: the catalog
is read from the warehouse, so a lakehouse that was never transformed is refused (exit 2)
with the command to run first.

Serving replaces this process with Python's own `http.server` over a folder holding only
the site's files (no compiled SQL, no logs), bound to loopback unless --host says
otherwise: exec rather than a child, so Ctrl-C reaches the server directly and the Spark
JVM started for `generate` exits with its closed gateway pipe (as `lakehouse dashboards
serve` does). static_index.html, with both JSON files inlined, opens without any server.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spark_jobs.settings import Settings
from spark_jobs.transform import MARTS_SCHEMA, TARGETS, invoke_dbt, prepare_dbt_env

DEFAULT_PORT = 8580  # dbt's own default (8080) is Trino's port in docker-compose
SITE_FILES = ("index.html", "manifest.json", "catalog.json")
STATIC_PAGE = "static_index.html"

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class DocsError(RuntimeError):
    """The docs could not be built; the message says what to do, `code` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DocsSite:
    """Where one `generate` put the documentation."""

    target_dir: Path
    """dbt's target path of this run (artifacts, compiled SQL, static_index.html)."""
    site_dir: Path
    """Only the files the site serves: index.html, manifest.json, catalog.json."""

    @property
    def static_page(self) -> Path:
        return self.target_dir / STATIC_PAGE


def docs_dir(settings: Settings, target: str) -> Path:
    """dbt's target path for the docs of one target (never the one transform writes)."""
    return settings.home / "dbt" / f"docs-{target}"


def published_marts(settings: Settings) -> list[str]:
    """The tables in the lakehouse's `marts` namespace (pyiceberg: no engine started)."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    from spark_jobs.common.catalog import load_pyiceberg_catalog

    if settings.catalog_type == "embedded" and not settings.catalog_db.exists():
        return []  # opening it would create an empty catalog
    try:
        return sorted(t[-1] for t in load_pyiceberg_catalog(settings).list_tables(MARTS_SCHEMA))
    except NoSuchNamespaceError:
        return []


def generate_docs(
    settings: Settings, target: str = "local", echo: Callable[[str], None] = print
) -> DocsSite:
    """`dbt docs generate --static` on `target`; returns where the site is.

    Args:
        settings: the lakehouse deployment (catalog, warehouse, Spark).
        target: `local` (embedded Spark session) or `trino` (TRINO_HOST, TRINO_PORT, ...).
        echo: where progress is printed.

    Raises:
        DocsError: code 2 for an unknown target or a lakehouse without marts (run
            `lakehouse transform` first); code 1 if dbt failed (its message included).
    """
    if target not in TARGETS:
        raise DocsError(f"unknown target {target!r}; use one of: {', '.join(TARGETS)}", 2)
    marts = published_marts(settings)
    if not marts:
        raise DocsError(
            f"no marts in lake.{MARTS_SCHEMA} yet: the docs read each table's columns from "
            "the warehouse. Build them first: `lakehouse ingest <source>`, then "
            "`lakehouse transform`",
            EXIT_BAD_INPUT,
        )
    prepare_dbt_env(settings, target)
    if target == "local":
        from spark_jobs.common.session import build_spark

        # dbt-spark's session mode reuses this session (catalog, jars, memory).
        build_spark(settings, app_name="lakehouse-docs")
    out = docs_dir(settings, target)
    echo(f"dbt docs generate (target {target}, {len(marts)} published marts) into {out}")
    result = invoke_dbt(settings, ["docs", "generate"], target, ["--static"], target_path=out)
    if not result.success:
        why = result.exception or "see dbt's messages above (catalog or compile errors)"
        raise DocsError(f"dbt docs generate failed on target {target}: {why}")
    site = out / "site"
    site.mkdir(exist_ok=True)
    for name in SITE_FILES:
        shutil.copyfile(out / name, site / f".{name}.tmp")
        os.replace(site / f".{name}.tmp", site / name)  # a running server never sees half
    return DocsSite(target_dir=out, site_dir=site)


def serve_docs(
    site: DocsSite,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    echo: Callable[[str], None] = print,
) -> None:
    """Replace this process with `python -m http.server` over the site (Ctrl-C stops it)."""
    echo(f"dbt docs: http://{host}:{port}/ (Ctrl-C stops it)")
    sys.stdout.flush()
    sys.stderr.flush()
    args = [sys.executable, "-m", "http.server", str(port), "--bind", host]
    os.execv(sys.executable, [*args, "--directory", str(site.site_dir)])
