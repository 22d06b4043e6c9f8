"""Create the admin user and import the lakehouse bundle's connection, datasets and charts.

Runs in Superset's venv (`lakehouse dashboards import` calls it; it does not import
`spark_jobs`):

    SUPERSET_CONFIG_PATH=superset/superset_config.py LAKEHOUSE_SUPERSET_ADMIN_PASSWORD=... \\
        .venv-superset/bin/python superset/import_bundle.py --bundle bundle.zip --admin admin

`superset import-dashboards` (run next) never updates an existing database connection,
dataset or chart: it only overwrites the dashboard. Here each of them is imported with
`overwrite=True` by Superset's own import commands, so a changed YAML file or a changed
engine (DuckDB <-> Trino) reaches the metadata DB on every import; UUIDs keep it free of
duplicates. The admin password comes from the environment, never from argv (visible in ps).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from zipfile import ZipFile

ADMIN_PASSWORD_ENV = "LAKEHOUSE_SUPERSET_ADMIN_PASSWORD"
DB_PASSWORD_ENV = "LAKEHOUSE_SUPERSET_DB_PASSWORD"  # Trino with password authentication
DATABASE_FILE = "databases/Lakehouse.yaml"


def _with_type(contents: dict[str, str], model: str) -> dict[str, str]:
    # Each import command only accepts a bundle whose metadata names its model type.
    out = dict(contents)
    out["metadata.yaml"] = f"version: 1.0.0\ntype: {model}\n"
    return out


def ensure_admin(security_manager: Any, username: str) -> bool:
    """Create the admin user if missing; True if it was created."""
    if security_manager.find_user(username=username):
        return False
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    if not password:
        raise SystemExit(f"{ADMIN_PASSWORD_ENV} is not set")
    role = security_manager.find_role("Admin")
    user = security_manager.add_user(
        username, "Lakehouse", "Admin", f"{username}@localhost", role, password=password
    )
    if not user:
        raise SystemExit(f"could not create the Superset user {username!r}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="bundle zip")
    parser.add_argument("--admin", required=True, help="admin username")
    args = parser.parse_args(argv)

    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset.commands.chart.importers.dispatcher import ImportChartsCommand
        from superset.commands.database.importers.dispatcher import ImportDatabasesCommand
        from superset.commands.dataset.importers.dispatcher import ImportDatasetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle

        from superset import db, security_manager

        if ensure_admin(security_manager, args.admin):
            print(f"created Superset admin user {args.admin!r}")
        db.session.commit()
        g.user = security_manager.find_user(username=args.admin)
        with ZipFile(args.bundle) as bundle:
            contents = get_contents_from_bundle(bundle)
        db_password = os.environ.get(DB_PASSWORD_ENV)
        passwords = {DATABASE_FILE: db_password} if db_password else None
        ImportDatabasesCommand(
            _with_type(contents, "Database"), overwrite=True, passwords=passwords
        ).run()
        ImportDatasetsCommand(_with_type(contents, "SqlaTable"), overwrite=True).run()
        ImportChartsCommand(_with_type(contents, "Slice"), overwrite=True).run()
        db.session.commit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
