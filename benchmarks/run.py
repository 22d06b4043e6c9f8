"""Benchmarks: `make bench` (or `python -m benchmarks.run --help`).

1. raw -> bronze at scale: N generated games (default 1,000,000) are written to
   `lake.raw.chesscom_responses` (not timed), then `rebuild_bronze` parses them into
   `lake.bronze.chesscom_games` (timed; a full rebuild is one atomic table overwrite).
   The floor is the time one core needs only to parse the same raw bytes with orjson;
   the ratio says how far Spark is from it.
2. Incremental cost: a fictional player with 5 years of history is ingested from the
   sandbox, then ingested again with nothing changed; the second run's HTTP requests and
   bytes are counted (target: the archives list + one 304 for the current month).
3. dbt (benchmarks/dbt_bench.py): full build and a one-day incremental build on 1 and 5
   years of generated history (target: incremental on 5 years within 1.5x of 1 year).

Results are printed and written to bench-results/results.json. Every run uses a fresh
throwaway lakehouse under bench-results/ (never your own LAKEHOUSE_HOME).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "bench-results"


def _months(n: int, end: str) -> list[str]:
    year, month = (int(x) for x in end.split("-"))
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return sorted(out)


def _fresh_settings(name: str):
    from spark_jobs.settings import load_settings

    home = OUT / name
    shutil.rmtree(home, ignore_errors=True)
    return load_settings({"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_SPARK_DRIVER_MEMORY": "6g"})


def bench_raw_to_bronze(games: int, players: int, months: int) -> dict:
    """Generate `games` games into raw, then time raw -> bronze."""
    import orjson
    import pyarrow as pa

    from spark_jobs.chesscom.ingest import GAMES_TABLE, SOURCE, rebuild_bronze
    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.common.iceberg import ensure_table
    from spark_jobs.common.raw import raw_table
    from spark_jobs.common.session import build_spark
    from spark_jobs.sandbox.chesscom_generator import iter_bulk_archives

    settings = _fresh_settings("raw_to_bronze")
    spark = build_spark(settings, app_name="bench-raw-to-bronze")
    spec = raw_table(SOURCE)
    ensure_table(spark, spec)
    ensure_table(spark, GAMES_TABLE)
    table = load_pyiceberg_catalog(settings).load_table(f"raw.{spec.name}")
    arrow_schema = table.schema().as_arrow()

    per_month = max(1, games // (players * months))
    month_list = _months(months, datetime.now(UTC).strftime("%Y-%m"))
    fetched_at = datetime.now(UTC)
    parse_seconds = 0.0
    raw_bytes = 0
    n_games = 0
    batch: list[tuple[str, str, bytes]] = []
    t0 = time.perf_counter()

    def flush() -> None:
        import hashlib

        if not batch:
            return
        cols = {
            "run_id": ["bench"] * len(batch),
            "source": [SOURCE] * len(batch),
            "resource": ["games_month"] * len(batch),
            "account": [b[0] for b in batch],
            "period": [b[1] for b in batch],
            "url": [f"https://api.chess.com/pub/player/{b[0]}/games/{b[1]}" for b in batch],
            "http_status": [200] * len(batch),
            "etag": [None] * len(batch),
            "last_modified": [None] * len(batch),
            "content_type": ["application/json"] * len(batch),
            "fetched_at": [fetched_at] * len(batch),
            "payload": [b[2].decode() for b in batch],
            "payload_bytes": [len(b[2]) for b in batch],
            "payload_sha256": [hashlib.sha256(b[2]).hexdigest() for b in batch],
        }
        table.append(pa.Table.from_pydict(cols, schema=arrow_schema))
        batch.clear()

    for player, month, payload in iter_bulk_archives(players, month_list, per_month):
        # The floor: one core, a fast JSON parser, the same bytes.
        p0 = time.perf_counter()
        doc = orjson.loads(payload)
        parse_seconds += time.perf_counter() - p0
        n_games += len(doc["games"])
        raw_bytes += len(payload)
        batch.append((player, month, payload))
        if len(batch) >= 500:
            flush()
    flush()
    generate_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    merged = rebuild_bronze(spark)
    bronze_seconds = time.perf_counter() - t1
    count = spark.table(GAMES_TABLE.identifier).count()
    spark.stop()
    return {
        "games": n_games,
        "bronze_rows": count,
        "games_merged": merged,
        "raw_payloads": players * len(month_list),
        "raw_mib": round(raw_bytes / 2**20, 1),
        "generate_and_load_raw_s": round(generate_seconds, 1),
        "raw_to_bronze_s": round(bronze_seconds, 1),
        "games_per_s": round(n_games / bronze_seconds),
        "floor_orjson_one_core_s": round(parse_seconds, 1),
        "ratio_to_floor": round(bronze_seconds / parse_seconds, 1),
        "target": "raw_to_bronze_s < 120 (> 8,000 games/s)",
    }


def bench_incremental(years: int) -> dict:
    """Requests and bytes of a no-change incremental run for a player with `years` history."""
    from spark_jobs.chesscom.client import ChessComClient
    from spark_jobs.chesscom.ingest import run_ingest
    from spark_jobs.common.session import build_spark
    from spark_jobs.demo import DEMO_USER_AGENT
    from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
    from spark_jobs.sandbox.chesscom_generator import generate_history
    from spark_jobs.sandbox.server import SandboxServer

    settings = _fresh_settings("incremental")
    spark = build_spark(settings, app_name="bench-incremental")
    now = datetime.now(UTC)
    months = _months(12 * years, now.strftime("%Y-%m"))
    store = ChessComStore()
    store.add_player("bench_player", generate_history("bench_player", months[0], months[-1]))
    runs = []
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        for _ in range(2):
            client = ChessComClient(server.base_url("chesscom"), DEMO_USER_AGENT)
            t0 = time.perf_counter()
            report = run_ingest(spark, client, ["bench_player"], progress=lambda m: None)
            client.close()
            runs.append((report, time.perf_counter() - t0))
    spark.stop()
    (first, first_s), (second, second_s) = runs
    return {
        "history_months": len(months),
        "games": first.results[0].games_merged,
        "first_run": {
            "requests": first.requests,
            "bytes": first.bytes_received,
            "seconds": round(first_s, 1),
        },
        "no_change_run": {
            "requests": second.requests,
            "not_modified": second.not_modified,
            "bytes": second.bytes_received,
            "seconds": round(second_s, 1),
        },
        "target": "no_change_run: 2 requests (archives list + one 304)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=1_000_000)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--years", type=int, default=5, help="history of the incremental run")
    parser.add_argument(
        "--only", choices=["raw_to_bronze", "incremental", "dbt"], help="run one benchmark"
    )
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    OUT.mkdir(exist_ok=True)
    results_file = OUT / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "when": datetime.now(UTC).isoformat()}
    if args.only in (None, "incremental"):
        results["chesscom_incremental"] = bench_incremental(args.years)
        print(json.dumps({"chesscom_incremental": results["chesscom_incremental"]}, indent=2))
    if args.only in (None, "raw_to_bronze"):
        results["chesscom_raw_to_bronze"] = bench_raw_to_bronze(
            args.games, args.players, args.months
        )
        print(json.dumps({"chesscom_raw_to_bronze": results["chesscom_raw_to_bronze"]}, indent=2))
    if args.only in (None, "dbt"):
        from benchmarks.dbt_bench import bench_dbt

        results["dbt_chess"] = bench_dbt((1, args.years))
        print(json.dumps({"dbt_chess": results["dbt_chess"]}, indent=2))
    results_file.write_text(json.dumps(results, indent=2))
    print(f"results written to {results_file}")


if __name__ == "__main__":
    main()
