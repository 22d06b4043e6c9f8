"""Deployment settings: one description of every place the lakehouse can run.

Everything is read from the environment (and a `.env` file in the working directory, if
present); nothing here opens a connection. Selecting a deployment is configuration only:

    LAKEHOUSE_CATALOG=embedded   # default: JDBC catalog on SQLite + local warehouse folder
    LAKEHOUSE_CATALOG=postgres   # JDBC catalog on PostgreSQL (shared with Trino)
    LAKEHOUSE_CATALOG=rest       # Iceberg REST catalog
    LAKEHOUSE_CATALOG=glue       # AWS Glue Data Catalog

    LAKEHOUSE_WAREHOUSE=s3://bucket/prefix   # warehouse on MinIO/S3 (default: local folder)
    LAKEHOUSE_S3_ENDPOINT=http://minio:9000  # only for MinIO / S3-compatible stores

Without LAKEHOUSE_CATALOG, a LAKEHOUSE_CATALOG_URI picks its catalog: jdbc:postgresql:...
means postgres, http(s) means rest. URLs are checked here (a scheme and a host), so a
typo exits 2 naming the variable before Spark starts. Sources check their own URLs with
:func:`url_setting`. Print the resolved settings (secrets redacted) with `lakehouse config`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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


_SECRET_PARAM = re.compile(
    r"(?i)([?&;][^=&;#]*(?:password|passwd|pwd|secret|token|key|credential)[^=&;#]*=)[^&;#]*"
)
_USERINFO_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#@]*(@)")


def redact_uri(value: str) -> str:
    """`value` with the secrets a URI can carry replaced by '***'.

    A password in the user info (`postgresql://u:secret@h/db`) and the value of any
    password/secret/token/key parameter (`jdbc:postgresql://h/db?user=u&password=secret`,
    `;password=` for drivers that use semicolons). Other text is returned unchanged.
    """
    value = _USERINFO_PASSWORD.sub(r"\1***\2", value)
    return _SECRET_PARAM.sub(r"\1***", value)


def url_setting(
    env: Mapping[str, str],
    name: str,
    default: str | None = None,
    *,
    schemes: tuple[str, ...] = ("http", "https"),
    example: str | None = None,
) -> str | None:
    """The URL in variable `name` (else `default`), checked: one of `schemes` and a host.

    Every URL-typed setting (the catalog's, the S3 endpoint, each source's API bases) goes
    through here, so a malformed one fails when settings load, before anything starts.

    Raises:
        SettingsError: naming the variable, an example and the fix.
    """
    value = (env.get(name) or "").strip() or default
    if value is None:
        return None
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number, or above 65535
        port_ok = False
    if parts.scheme.lower() not in schemes or not parts.hostname or not port_ok:
        kind = "http(s)" if set(schemes) == {"http", "https"} else " or ".join(schemes)
        fix = f"fix it, e.g. {example}" if example else "fix it"
        if default:
            fix += f", or unset it for the default {default}"
        raise SettingsError(f"{name}={redact_uri(value)!r} is not an {kind} URL with a host: {fix}")
    return value


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
            "catalog_uri": redact_uri(self.catalog_uri or ""),
            "catalog_user": self.catalog_user or "",
            "catalog_password": secret if self.catalog_password else "",
            "warehouse": self.warehouse,
            "s3_endpoint": redact_uri(self.s3.endpoint or ""),
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


_CATALOG_URI_EXAMPLES = {
    "postgres": "jdbc:postgresql://localhost:5432/iceberg",
    "rest": "http://localhost:8181",
}


def _catalog_type_of(uri: str | None) -> str:
    """The catalog a LAKEHOUSE_CATALOG_URI names when LAKEHOUSE_CATALOG is not set."""
    if not uri:
        return "embedded"
    if uri.lower().startswith("jdbc:postgresql:"):
        return "postgres"
    if urlsplit(uri).scheme.lower() in ("http", "https"):
        return "rest"
    raise SettingsError(
        f"LAKEHOUSE_CATALOG_URI={redact_uri(uri)!r} names no catalog this project opens: use "
        f"{_CATALOG_URI_EXAMPLES['postgres']} (PostgreSQL) or {_CATALOG_URI_EXAMPLES['rest']} "
        "(REST) and set LAKEHOUSE_CATALOG, or unset it for the embedded catalog"
    )


def _catalog_uri(catalog_type: str, uri: str | None) -> str:
    """The checked URI of a postgres or rest catalog (SettingsError names the fix)."""
    example = _CATALOG_URI_EXAMPLES[catalog_type]
    if not uri:
        raise SettingsError(
            f"LAKEHOUSE_CATALOG={catalog_type} needs LAKEHOUSE_CATALOG_URI (e.g. {example})"
        )
    if catalog_type == "rest":
        env = {"LAKEHOUSE_CATALOG_URI": uri}
        return url_setting(env, "LAKEHOUSE_CATALOG_URI", example=example) or uri
    if not uri.lower().startswith("jdbc:postgresql:"):
        # Iceberg's JDBC catalog hands the URI to the JDBC driver: it must be a JDBC URL.
        raise SettingsError(
            f"LAKEHOUSE_CATALOG_URI={redact_uri(uri)!r} is not a PostgreSQL JDBC URL: use "
            f"jdbc:postgresql://HOST:PORT/DATABASE (e.g. {example}), with the user and "
            "password in LAKEHOUSE_CATALOG_USER and LAKEHOUSE_CATALOG_PASSWORD"
        )
    return uri


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve the deployment from `env` (default: the process environment plus `.env`).

    Raises:
        SettingsError: a variable is missing or has an invalid value; the message names it.
    """
    if env is None:
        _load_dotenv()
        env = os.environ
    home = Path(env.get("LAKEHOUSE_HOME") or _DEFAULT_HOME).expanduser().resolve()
    catalog_uri = (env.get("LAKEHOUSE_CATALOG_URI") or "").strip() or None
    catalog_type = (env.get("LAKEHOUSE_CATALOG") or "").strip().lower()
    if not catalog_type:
        catalog_type = _catalog_type_of(catalog_uri)
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

    if catalog_type == "embedded":
        catalog_uri = f"jdbc:sqlite:{home / 'catalog.db'}"
    elif catalog_type in ("postgres", "rest"):
        catalog_uri = _catalog_uri(catalog_type, catalog_uri)
    if catalog_type == "glue" and not warehouse.startswith("s3://"):
        raise SettingsError("LAKEHOUSE_CATALOG=glue needs LAKEHOUSE_WAREHOUSE=s3://bucket/prefix")

    s3 = S3Settings(
        endpoint=url_setting(env, "LAKEHOUSE_S3_ENDPOINT", example="http://localhost:9000"),
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
