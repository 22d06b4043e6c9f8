"""Benchmarks of the production-shaped stack (`lakehouse stack`), against the embedded path.

    python -m benchmarks.stack_bench              # warm start, dbt on Trino, chart p95
    python -m benchmarks.stack_bench --cold       # also a first start with every download

Figures (bench-results/stack.json):
- stack start: `--cold` times `lakehouse stack up` with empty download caches (Maven's
  repository, the Go module and build caches, ~/.cache/lakehouse: Trino is downloaded and
  the S3 server built); warm: a new LAKEHOUSE_HOME with the caches filled (initdb and
  every service's first start), then a restart of the same home;
- dbt on Trino: full and one-day incremental build of the chess marts (dbt-trino, with
  every test and the publish), 1 and 5 years of history, each on a stack of its own;
  compared with the `local` target's figures of benchmarks/dbt_bench.py;
- the dashboard's chart queries: the Chess dashboard opened 5 times in headless Chromium,
  each chart-data request's time to its last byte; p50/p95 on Trino (the 1-year stack) vs
  the embedded serving path (DuckDB over the Iceberg marts, the 1-year local lakehouse).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results"
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
BROWSER = ROOT / "tests" / "browser" / "check_dashboard.mjs"
DASHBOARD_LOADS = 5


def _clean_env(**extra: str) -> dict[str, str]:
    drop = ("LAKEHOUSE_", "CHESSCOM_", "TRINO_", "SUPERSET_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


def _run(args: list[str], env: dict[str, str], timeout: int = 3600) -> str:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def _new_home(name: str) -> Path:
    # Reachable by the `postgres` user when run as root (see spark_jobs/stack/services.py).
    home = Path(tempfile.mkdtemp(prefix=f"lakehouse-bench-{name}-"))
    home.chmod(0o755)
    return home


def _timed_up(env: dict[str, str]) -> float:
    started = time.perf_counter()
    _run([LAKEHOUSE, "stack", "up"], env)
    return round(time.perf_counter() - started, 1)


def _stack_env(env: dict[str, str]) -> dict[str, str]:
    out = _run([LAKEHOUSE, "stack", "env"], env)
    exported = {}
    for line in out.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        exported[key] = shlex.split(value)[0]
    return {**env, **exported}


def bench_cold_start() -> dict[str, Any]:
    """`stack up` with every download cache empty (minutes: ~0.6 GB and a Go build)."""
    caches = Path(tempfile.mkdtemp(prefix="lakehouse-bench-caches-"))
    home = _new_home("cold")
    env = _clean_env(
        LAKEHOUSE_HOME=str(home),
        LAKEHOUSE_CACHE=str(caches / "lakehouse"),
        MAVEN_OPTS=f"-Dmaven.repo.local={caches / 'm2'}",
        GOMODCACHE=str(caches / "gomod"),
        GOCACHE=str(caches / "gobuild"),
    )
    try:
        seconds = _timed_up(env)
    finally:
        subprocess.run([LAKEHOUSE, "stack", "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(caches, ignore_errors=True)
    return {"first_start_with_downloads_s": seconds}


def bench_warm_start() -> dict[str, Any]:
    home = _new_home("warm")
    env = _clean_env(LAKEHOUSE_HOME=str(home))
    try:
        first = _timed_up(env)
        _run([LAKEHOUSE, "stack", "down"], env)
        restart = _timed_up(env)
    finally:
        subprocess.run([LAKEHOUSE, "stack", "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)
    return {"new_home_start_s": first, "restart_s": restart}


def _percentiles(samples: list[int]) -> dict[str, Any]:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return {"samples": len(ordered), "p50_ms": statistics.median(ordered), "p95_ms": p95}


def _chart_timings(env: dict[str, str], home: Path) -> dict[str, Any]:
    """Import the dashboards for `env`'s engine, serve them, open the dashboard N times."""
    from tests.superset_browser import CHARTS, free_port, stop_group

    _run([LAKEHOUSE, "dashboards", "import"], env)
    port = free_port()
    log = (home / "bench-superset.log").open("w")
    server = subprocess.Popen(
        [LAKEHOUSE, "dashboards", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    samples: list[int] = []
    try:
        url = f"http://127.0.0.1:{port}"
        import urllib.request

        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Superset did not start") from None
                time.sleep(1)
        password = (home / "superset" / "admin_password").read_text().strip()
        for i in range(DASHBOARD_LOADS):
            browser_env = {
                **_clean_env(),
                "SUPERSET_URL": url,
                "SUPERSET_USER": "admin",
                "SUPERSET_PASSWORD": password,
                "EXPECTED_CHARTS": str(len(CHARTS)),
                "SCREENSHOT": str(home / f"bench-{i}.png"),
            }
            report = json.loads(_run(["node", str(BROWSER)], browser_env, timeout=600))
            samples += report["chartMs"]
    finally:
        stop_group(server)
        log.close()
    return _percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="also time a start with downloads")
    parser.add_argument("--years", type=int, nargs="+", default=[1, 5])
    parser.add_argument(
        "--skip-local",
        action="store_true",
        help="take the local target's dbt figures from bench-results/results.json",
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    from benchmarks.dbt_bench import bench_dbt

    result: dict[str, Any] = {"start": {}}
    if args.cold:
        result["start"].update(bench_cold_start())
    result["start"].update(bench_warm_start())
    print(json.dumps({"start": result["start"]}), flush=True)

    first = min(args.years)
    runs, result["charts"] = [], {}
    for years in args.years:
        # One stack at a time (the default ports), each history length on a new one.
        home = _new_home(f"dbt{years}y")
        env = _clean_env(LAKEHOUSE_HOME=str(home))
        try:
            _run([LAKEHOUSE, "stack", "up"], env)
            stack_env = _stack_env(env)
            runs += bench_dbt((years,), "trino", env_for=lambda _y, e=stack_env: e)["runs"]
            if years == first:
                result["charts"]["trino"] = _chart_timings(stack_env, home)
        finally:
            subprocess.run([LAKEHOUSE, "stack", "down"], env=env, capture_output=True, check=False)
            shutil.rmtree(home, ignore_errors=True)
    result["dbt_trino"] = {"runs": runs}
    print(json.dumps({"dbt_trino": result["dbt_trino"]}), flush=True)

    previous = OUT / "results.json"
    local = json.loads(previous.read_text()).get("dbt_chess") if previous.exists() else None
    if args.skip_local and local:
        result["dbt_local"] = local  # measured by benchmarks.run in the same `make bench`
    else:
        result["dbt_local"] = bench_dbt(tuple(args.years), "local")
    print(json.dumps({"dbt_local": result["dbt_local"]}), flush=True)
    by_local = {r["years"]: r for r in result["dbt_local"]["runs"]}
    for run in runs:
        other = by_local.get(run["years"])
        if other:
            run["vs_local"] = {
                key: round(run[key] / other[key], 2)
                for key in ("full_build_s", "incremental_build_s")
            }
    serving_home = OUT / f"dbt_{first}y"
    result["charts"]["duckdb_serving"] = _chart_timings(
        _clean_env(LAKEHOUSE_HOME=str(serving_home)), serving_home
    )
    print(json.dumps({"charts": result["charts"]}), flush=True)
    (OUT / "stack.json").write_text(json.dumps(result, indent=2))
    print(f"results written to {OUT / 'stack.json'}")


if __name__ == "__main__":
    main()
