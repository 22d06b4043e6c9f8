"""SQL on the production engine: Trino, through the official `trino` Python client.

    lakehouse sql --engine trino "select count(*) from lake.marts.fct_chess_games"

The server is the one dbt's `trino` target uses (dbt_project/profiles.yml): TRINO_HOST,
TRINO_PORT, TRINO_USER, TRINO_CATALOG (default `lake`), TRINO_SCHEMA, TRINO_HTTP_SCHEME,
and TRINO_PASSWORD for password authentication (https only). `lakehouse stack env` sets
them for the local stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from spark_jobs.settings import CATALOG_NAME


class TrinoQueryError(RuntimeError):
    """The server is unreachable or the query failed; the message says which and why."""


def trino_connection(env: Mapping[str, str] | None = None):
    """A DB-API connection to the configured Trino (nothing is sent until a query)."""
    import trino

    env = os.environ if env is None else env
    scheme = env.get("TRINO_HTTP_SCHEME") or "http"
    auth = None
    if env.get("TRINO_PASSWORD"):
        auth = trino.auth.BasicAuthentication(
            env.get("TRINO_USER") or "lakehouse", env["TRINO_PASSWORD"]
        )
    port = env.get("TRINO_PORT") or "8080"
    if not port.isdigit():
        raise TrinoQueryError(f"TRINO_PORT={port!r} is not a port number")
    return trino.dbapi.connect(
        host=env.get("TRINO_HOST") or "localhost",
        port=int(port),
        user=env.get("TRINO_USER") or "lakehouse",
        catalog=env.get("TRINO_CATALOG") or CATALOG_NAME,
        schema=env.get("TRINO_SCHEMA") or None,
        http_scheme=scheme,
        auth=auth,
        source="lakehouse-cli",
    )


def run_trino_query(
    query: str, env: Mapping[str, str] | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Run one statement on Trino; returns (column names, rows).

    Raises:
        TrinoQueryError: Trino is unreachable (the message names TRINO_HOST/PORT and
            `lakehouse stack up`) or rejected the query (Trino's own message).
    """
    import requests
    from trino.exceptions import TrinoConnectionError, TrinoUserError
    from trino.exceptions import TrinoQueryError as ClientQueryError

    env = os.environ if env is None else env
    conn = trino_connection(env)
    try:
        cur = conn.cursor()
        cur.execute(query)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description or []]
    except (TrinoUserError, ClientQueryError) as exc:
        raise TrinoQueryError(f"query failed: {exc.error_name}: {exc.message}") from None
    except (TrinoConnectionError, requests.exceptions.ConnectionError):
        where = f"{env.get('TRINO_HOST') or 'localhost'}:{env.get('TRINO_PORT') or '8080'}"
        raise TrinoQueryError(
            f"Trino does not answer at {where}: start it (`lakehouse stack up`, then "
            '`eval "$(lakehouse stack env)"`) or set TRINO_HOST / TRINO_PORT'
        ) from None
    finally:
        conn.close()
    return columns, rows
