"""Ingest one source into the lakehouse: the spark-submit / Glue entrypoint for every source.

    spark-submit --properties-file lakehouse.conf spark_jobs/jobs/ingest.py \
        --source chesscom --players hikaru,magnuscarlsen --from 2024-01
    spark-submit ... spark_jobs/jobs/ingest.py --source oura --accounts me --from 2024-06-01

`--<accounts>` is the source's own name for them (chess.com: `--players`), comma-separated;
`--from/--to` take months or dates as the source's `lakehouse ingest` does. Settings
(catalog, warehouse, the source's variables) come from the environment as for the CLI.
Exits 1 when any account failed (completed work is kept), 2 on bad input, 75 when another
run holds the lakehouse lock of an account or of the source (`--wait [--wait-timeout S]`
waits for it instead; see spark_jobs/common/lock.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from spark_jobs.common.lock import EXIT_LOCKED
from spark_jobs.jobs.args import parse_job_args

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from spark_jobs.common.lock import DEFAULT_WAIT_TIMEOUT
    from spark_jobs.sources import REGISTERED, all_sources

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, choices=REGISTERED, help="the source to ingest")
    for plural in dict.fromkeys(src.account.plural for src in all_sources()):
        p.add_argument(f"--{plural}", dest="accounts", help=f"comma-separated {plural}")
    p.add_argument("--from", dest="first", help="first month (YYYY-MM) or day (YYYY-MM-DD)")
    p.add_argument("--to", dest="last", help="last month (YYYY-MM) or day (YYYY-MM-DD)")
    p.add_argument("--refresh", action="store_true", help="ignore stored state")
    p.add_argument(
        "--wait", action="store_true", help="wait for another run's lakehouse lock (else exit 75)"
    )
    p.add_argument(
        "--wait-timeout", type=float, default=DEFAULT_WAIT_TIMEOUT, metavar="SECONDS",
        help=f"how long --wait waits (default {DEFAULT_WAIT_TIMEOUT:.0f})",
    )  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from spark_jobs.common.progress import TouchHandler

    logging.getLogger().addHandler(TouchHandler())
    args = parse_job_args(build_parser(), argv)
    from spark_jobs.common.catalog import check_catalog_reachable
    from spark_jobs.common.errors import ConfigError
    from spark_jobs.common.lock import LockHeld, hold_locks, ingest_locks
    from spark_jobs.common.progress import heartbeat
    from spark_jobs.common.session import build_spark
    from spark_jobs.settings import load_settings
    from spark_jobs.sources import get_source

    src = get_source(args.source)
    try:
        settings = load_settings()
        env = dict(os.environ)
        accounts = src.accounts(str(args.accounts or "").split(","), env)
        first, last = src.bounds(args.first, args.last)
        source_settings = src.check_settings(env, settings.home)
        src.ready(source_settings, accounts)
        # The locks before Spark: a run that has to give way costs a second, not a JVM.
        # run_ingest takes the same ones again (a no-op in this process).
        with hold_locks(
            settings.home, ingest_locks(src.name, accounts), wait=bool(args.wait),
            timeout=args.wait_timeout, progress=log.info,
        ):  # fmt: skip
            check_catalog_reachable(settings)
            with heartbeat(f"starting Spark ({settings.spark_master})", log.info):
                spark = build_spark(settings, app_name=f"{src.name}-ingest")
            report = src.ingest(
                spark, settings, source_settings, accounts, first=first, last=last,
                refresh=bool(args.refresh), progress=logging.getLogger(src.name).info,
            )  # fmt: skip
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LockHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    for err in report.errors:
        print(f"error: {err}", file=sys.stderr)
    print(
        f"run {report.run_id}: {sum(r.rows_merged for r in report.results)} records merged, "
        f"{report.requests} requests, {report.not_modified} x 304"
    )
    return 0 if report.ok else (2 if report.bad_input else 1)


if __name__ == "__main__":
    sys.exit(main())
