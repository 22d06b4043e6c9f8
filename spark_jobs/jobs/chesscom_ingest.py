"""Ingest chess.com archives into the lakehouse: the spark-submit / Glue entrypoint.

    spark-submit --properties-file infra/spark/spark-defaults.conf \
        spark_jobs/jobs/chesscom_ingest.py --players hikaru,magnuscarlsen --from 2024-01

Settings (catalog, warehouse, CHESSCOM_USER_AGENT) come from the environment as for the
`lakehouse` CLI. Exits 1 when any player failed (completed work is kept), 2 on bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from spark_jobs.jobs.args import parse_job_args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--players", required=True, help="comma-separated chess.com usernames")
    p.add_argument("--from", dest="month_from", help="first month, YYYY-MM")
    p.add_argument("--to", dest="month_to", help="last month, YYYY-MM")
    p.add_argument("--refresh", action="store_true", help="ignore stored state")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_job_args(build_parser(), argv)
    from spark_jobs.chesscom.client import ChessComClient, ConfigError
    from spark_jobs.chesscom.ingest import run_ingest
    from spark_jobs.common.session import build_spark
    from spark_jobs.settings import SettingsError, load_settings

    players = [p for p in str(args.players).split(",") if p.strip()]
    try:
        settings = load_settings()
        client = ChessComClient(settings.chesscom_api_base, settings.chesscom_user_agent)
        spark = build_spark(settings, app_name="chesscom-ingest")
        report = run_ingest(
            spark, client, players, month_from=args.month_from, month_to=args.month_to,
            refresh=bool(args.refresh),
        )  # fmt: skip
    except (ConfigError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for err in report.errors:
        print(f"error: {err}", file=sys.stderr)
    print(
        f"run {report.run_id}: {sum(r.games_merged for r in report.results)} games merged, "
        f"{report.requests} requests, {report.not_modified} x 304"
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
