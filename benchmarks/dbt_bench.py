"""Benchmark of the dbt layer: full build, then an incremental build after one new day.

    python -m benchmarks.dbt_bench                 # 1 and 5 years of history
    python -m benchmarks.dbt_bench --years 1 5 10

For each history length a fictional player's games (generate_history, 150-250 games a
month) are served by the sandbox and ingested into a fresh lakehouse under
bench-results/ (not timed). Then, timed, each a complete `run_transform` (dbt parse +
build + data/unit tests + write-audit-publish):

- full build: the first run on the whole history (creates the marts);
- incremental build: after one more day of games is ingested.

Target: incremental(5 years) <= 1.5 x incremental(1 year): the incremental models read
only the days after their cursor and MERGE with a partition floor, so history is not
rescanned. Each history length runs in its own process (one SparkSession per catalog).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "bench-results"
PLAYER = "bench_dbt_player"
GAMES_PER_MONTH = (150, 250)
UA = "lakehouse-bench/0.1 (bench@localhost)"


def _month_shift(month: str, delta: int) -> str:
    year, mon = (int(x) for x in month.split("-"))
    index = year * 12 + (mon - 1) + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _ingest(spark, store) -> int:
    from spark_jobs.chesscom.client import ChessComClient
    from spark_jobs.chesscom.ingest import run_ingest
    from spark_jobs.sandbox.chesscom import ChessComApp
    from spark_jobs.sandbox.server import SandboxServer

    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        client = ChessComClient(server.base_url("chesscom"), UA)
        try:
            report = run_ingest(spark, client, [PLAYER], progress=lambda m: None)
        finally:
            client.close()
    if not report.ok:
        raise RuntimeError(f"ingestion failed: {report.errors}")
    return report.results[0].games_merged


def bench_one(years: int, target: str = "local") -> dict[str, Any]:
    """Full and incremental build on `years` of history (in this process).

    target `trino`: the lakehouse is the one the environment describes (`lakehouse stack
    env`), bronze is written by Spark on its cluster and dbt runs on its Trino.
    """
    from spark_jobs.common.session import build_spark
    from spark_jobs.sandbox.chesscom import ChessComStore
    from spark_jobs.sandbox.chesscom_generator import generate_history
    from spark_jobs.settings import load_settings
    from spark_jobs.transform import run_transform

    if target == "local":
        home = OUT / f"dbt_{years}y"
        shutil.rmtree(home, ignore_errors=True)
        env = {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_SPARK_DRIVER_MEMORY": "4g"}
        settings = load_settings(env)
    else:
        settings = load_settings()
    spark = build_spark(settings, app_name=f"bench-dbt-{years}y")

    # History ends two months ago; the "new day" is the first day of last month, so every
    # ingested month is final and the new day arrives as a new archive.
    last = _month_shift(datetime.now(UTC).strftime("%Y-%m"), -2)
    first = _month_shift(last, -(12 * years - 1))
    store = ChessComStore()
    store.add_player(PLAYER, generate_history(PLAYER, first, last, games_per_month=GAMES_PER_MONTH))
    history_games = _ingest(spark, store)

    log: list[str] = []
    t0 = time.perf_counter()
    code = run_transform(settings, target=target, echo=log.append)
    full_s = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError("full build failed:\n" + "\n".join(log))

    new_month = _month_shift(last, 1)
    generated = generate_history(PLAYER, new_month, new_month, seed=99, games_per_month=(300, 300))
    games = generated[new_month]
    day = datetime.fromtimestamp(games[0]["end_time"], UTC).date()
    one_day = [g for g in games if datetime.fromtimestamp(g["end_time"], UTC).date() == day]
    store.add_games(PLAYER, new_month, one_day)
    added = _ingest(spark, store)

    log.clear()
    t1 = time.perf_counter()
    code = run_transform(settings, target=target, echo=log.append)
    incremental_s = time.perf_counter() - t1
    if code != 0:
        raise RuntimeError("incremental build failed:\n" + "\n".join(log))
    fct = spark.table("lake.marts.fct_chess_games").count()
    spark.stop()
    return {
        "dbt_target": target,
        "years": years,
        "history_games": history_games,
        "new_day_games": added,
        "fct_chess_games_rows": fct,
        "full_build_s": round(full_s, 1),
        "incremental_build_s": round(incremental_s, 1),
    }


def bench_dbt(
    years_list: tuple[int, ...] = (1, 5),
    target: str = "local",
    env_for: Any = None,
) -> dict[str, Any]:
    """Run bench_one for each history length in its own process; returns the figures.

    env_for(years) -> environment of that run (the stack benchmark gives each history
    length a stack of its own); default this process's environment.
    """
    runs = []
    for years in years_list:
        env = dict(env_for(years)) if env_for else dict(os.environ)
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.dbt_bench",
                "--one",
                str(years),
                "--target",
                target,
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        marker = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not marker:
            raise RuntimeError(
                f"dbt bench ({years}y) failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        runs.append(json.loads(marker[-1][len("RESULT ") :]))
    result: dict[str, Any] = {"runs": runs, "target": "incremental(5y) <= 1.5 x incremental(1y)"}
    by_years = {r["years"]: r for r in runs}
    if 1 in by_years and 5 in by_years:
        ratio = by_years[5]["incremental_build_s"] / by_years[1]["incremental_build_s"]
        result["incremental_ratio_5y_to_1y"] = round(ratio, 2)
        result["target_met"] = ratio <= 1.5
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--target", default="local", choices=["local", "trino"])
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    OUT.mkdir(exist_ok=True)
    if args.one is not None:
        print("RESULT " + json.dumps(bench_one(args.one, args.target)), flush=True)
        return
    result = bench_dbt(tuple(args.years))
    (OUT / "dbt.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({"dbt": result}, indent=2))


if __name__ == "__main__":
    main()
