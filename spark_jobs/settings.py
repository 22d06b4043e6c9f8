"""Deployment settings: one description of every place the lakehouse can run.

Everything is read from the environment (and a `.env` file in the working directory, if
present); nothing here opens a connection. Selecting a deployment is configuration only:

    LAKEHOUSE_CATALOG=embedded   # default: JDBC catalog on SQLite + local warehouse folder
    LAKEHOUSE_CATALOG=postgres   # JDBC catalog on PostgreSQL (shared with Trino)
    LAKEHOUSE_CATALOG=rest       # Iceberg REST catalog
    LAKEHOUSE_CATALOG=glue       # AWS Glue Data Catalog

    LAKEHOUSE_WAREHOUSE=s3://bucket/prefix   # warehouse on MinIO/S3 (default: local folder)
    LAKEHOUSE_S3_ENDPOINT=http://minio:9000  # only for MinIO / S3-compatible stores

Print the resolved settings (secrets redacted) with `lakehouse config`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spark_jobs.common.errors import ConfigError

CATALOG_NAME = "lake"
"""The one Iceberg catalog name every engine uses (pyiceberg stores it in the catalog DB)."""

NAMESPACES = ("raw", "bronze")
"""Namespaces the ingestion jobs own; dbt creates its own (staging, marts, ...)."""

CATALOG_TYPES = ("embedded", "postgres", "rest", "glue")

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_HOME = _PROJECT_ROOT / ".lakehouse"


class SettingsError(ConfigError):
    """A setting is missing or invalid; the message says which variable to fix."""


@dataclass(frozen=True)
class S3Settings:
    """Object-store access for a warehouse on S3 or an S3-compatible store (MinIO)."""

    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    path_style: bool = True


@dataclass(frozen=True)
class Settings:
    """The resolved deployment. Build it with :func:`load_settings`."""

    home: Path
    catalog_type: str = "embedded"
    catalog_uri: str | None = None
    catalog_user: str | None = None
    catalog_password: str | None = field(default=None, repr=False)
    warehouse: str = ""
    s3: S3Settings = field(default_factory=S3Settings)
    spark_master: str = "local[2]"
    spark_driver_memory: str = "2g"
    spark_jars: tuple[str, ...] = ()
    spark_packages: tuple[str, ...] = ()
    timezone: str = "UTC"

    @property
    def catalog_db(self) -> Path:
        """SQLite file of the embedded catalog."""
        return self.home / "catalog.db"

    @property
    def warehouse_is_local(self) -> bool:
        return self.warehouse.startswith("file:")

    def redacted(self) -> dict[str, str]:
        """The settings as strings, secrets replaced by '***' (for `lakehouse config`)."""
        secret = "***"
        return {
            "home": str(self.home),
            "catalog": CATALOG_NAME,
            "catalog_type": self.catalog_type,
            "catalog_uri": self.catalog_uri or "",
            "catalog_user": self.catalog_user or "",
            "catalog_password": secret if self.catalog_password else "",
            "warehouse": self.warehouse,
            "s3_endpoint": self.s3.endpoint or "",
            "s3_access_key_id": secret if self.s3.access_key_id else "",
            "spark_master": self.spark_master,
            "spark_jars": ",".join(self.spark_jars),
            "spark_packages": ",".join(self.spark_packages),
            "timezone": self.timezone,
        }


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _load_dotenv() -> None:
    # A .env file never overrides variables already set in the environment.
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve the deployment from `env` (default: the process environment plus `.env`).

    Raises:
        SettingsError: a variable is missing or has an invalid value; the message names it.
    """
    if env is None:
        _load_dotenv()
        env = os.environ
    home = Path(env.get("LAKEHOUSE_HOME") or _DEFAULT_HOME).expanduser().resolve()
    catalog_type = (env.get("LAKEHOUSE_CATALOG") or "embedded").strip().lower()
    if catalog_type not in CATALOG_TYPES:
        raise SettingsError(
            f"LAKEHOUSE_CATALOG={catalog_type!r} is not supported; "
            f"use one of: {', '.join(CATALOG_TYPES)}"
        )

    warehouse = env.get("LAKEHOUSE_WAREHOUSE") or (home / "warehouse").as_uri()
    if warehouse.startswith("/"):
        warehouse = Path(warehouse).as_uri()
    if warehouse.startswith("s3a://"):
        # Iceberg's S3FileIO, pyiceberg and Trino all read and write s3:// locations.
        warehouse = "s3://" + warehouse[len("s3a://") :]

    catalog_uri = env.get("LAKEHOUSE_CATALOG_URI")
    if catalog_type == "embedded":
        catalog_uri = f"jdbc:sqlite:{home / 'catalog.db'}"
    elif catalog_type in ("postgres", "rest") and not catalog_uri:
        example = (
            "jdbc:postgresql://localhost:5432/iceberg"
            if catalog_type == "postgres"
            else "http://localhost:8181"
        )
        raise SettingsError(
            f"LAKEHOUSE_CATALOG={catalog_type} needs LAKEHOUSE_CATALOG_URI (e.g. {example})"
        )
    if catalog_type == "glue" and not warehouse.startswith("s3://"):
        raise SettingsError("LAKEHOUSE_CATALOG=glue needs LAKEHOUSE_WAREHOUSE=s3://bucket/prefix")

    s3 = S3Settings(
        endpoint=env.get("LAKEHOUSE_S3_ENDPOINT") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        path_style=(env.get("LAKEHOUSE_S3_PATH_STYLE", "true").lower() != "false"),
    )

    return Settings(
        home=home,
        catalog_type=catalog_type,
        catalog_uri=catalog_uri,
        catalog_user=env.get("LAKEHOUSE_CATALOG_USER") or None,
        catalog_password=env.get("LAKEHOUSE_CATALOG_PASSWORD") or None,
        warehouse=warehouse,
        s3=s3,
        spark_master=env.get("LAKEHOUSE_SPARK_MASTER") or "local[2]",
        spark_driver_memory=env.get("LAKEHOUSE_SPARK_DRIVER_MEMORY") or "2g",
        spark_jars=_split(env.get("LAKEHOUSE_SPARK_JARS")),
        spark_packages=_split(env.get("LAKEHOUSE_SPARK_PACKAGES")),
        timezone=env.get("LAKEHOUSE_TIMEZONE") or "UTC",
    )
