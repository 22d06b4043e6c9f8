"""Oura raw -> bronze for years of one person: `python -m benchmarks.oura_bench [--years 5]`.

A generated person's documents (every endpoint, heart rate included) are written to
`lake.raw.oura_responses` as the pages the API would have sent for each ingest window
(not timed); then `rebuild_bronze` parses them into every `lake.bronze.oura_*` table
(timed). The floor is one core parsing the same bytes with orjson; the ratio says how far
Spark is from it. `make bench` runs it; results go to bench-results/results.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from datetime import UTC, date, datetime, timedelta

from benchmarks.run import OUT, _fresh_settings

HEARTRATE_PAGE = 1000  # samples per page, as the sandbox serves them


def _pages(person: dict, first: date, last: date):
    """(endpoint, period, url, body) of every page an ingest of first..last would read."""
    import orjson

    from spark_jobs.oura.client import ENDPOINTS
    from spark_jobs.oura.ingest import WHOLE, window_key, windows

    for name, ep in ENDPOINTS.items():
        if name == "personal_info":
            yield name, WHOLE, ep.path, orjson.dumps(person["personal_info"])
            continue
        docs = person.get(name, [])
        if ep.day_field is None:
            yield name, WHOLE, ep.path, orjson.dumps({"data": docs, "next_token": None})
            continue
        by_window: dict[str, list] = {}
        bounds = windows(name, first, last)
        for doc in docs:
            day = date.fromisoformat(str(doc[ep.day_field])[:10])
            for lo, hi in bounds:
                if lo <= day <= hi:
                    by_window.setdefault(window_key(lo, hi), []).append(doc)
                    break
        size = HEARTRATE_PAGE if name == "heartrate" else len(docs) + 1
        for period, items in by_window.items():
            chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
            for i, chunk in enumerate(chunks):
                token = f"{period}-{i + 1}" if i + 1 < len(chunks) else None
                body = orjson.dumps({"data": chunk, "next_token": token})
                yield name, period, f"{ep.path}?page={i}", body


def bench_oura_raw_to_bronze(years: int) -> dict:
    """Write `years` of one person's pages to raw, then time raw -> bronze."""
    import orjson
    import pyarrow as pa

    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.common.iceberg import ensure_table
    from spark_jobs.common.raw import raw_table
    from spark_jobs.common.session import build_spark
    from spark_jobs.oura.ingest import SOURCE, rebuild_bronze
    from spark_jobs.oura.schemas import TABLES
    from spark_jobs.sandbox.oura_generator import generate_person

    settings = _fresh_settings("oura_raw_to_bronze")
    spark = build_spark(settings, app_name="bench-oura-raw-to-bronze")
    spec = raw_table(SOURCE)
    ensure_table(spark, spec)
    table = load_pyiceberg_catalog(settings).load_table(f"raw.{spec.name}")
    arrow_schema = table.schema().as_arrow()

    last = datetime.now(UTC).date()
    first = last - timedelta(days=365 * years)
    t0 = time.perf_counter()
    person = generate_person("bench_person", first, last)
    fetched_at = datetime.now(UTC)
    rows: list[tuple[str, str, str, bytes]] = list(_pages(person, first, last))
    generate_seconds = time.perf_counter() - t0
    del person
    parse_seconds, records, raw_bytes = 0.0, 0, 0
    for _, _, _, body in rows:
        p0 = time.perf_counter()
        doc = orjson.loads(body)
        parse_seconds += time.perf_counter() - p0
        records += len(doc["data"]) if "data" in doc else 1
        raw_bytes += len(body)
    for i in range(0, len(rows), 500):
        batch = rows[i : i + 500]
        table.append(
            pa.Table.from_pydict(
                {
                    "run_id": ["bench"] * len(batch),
                    "source": [SOURCE] * len(batch),
                    "resource": [b[0] for b in batch],
                    "account": ["bench_person"] * len(batch),
                    "period": [b[1] for b in batch],
                    "url": [f"https://api.ouraring.com{b[2]}" for b in batch],
                    "http_status": [200] * len(batch),
                    "etag": [None] * len(batch),
                    "last_modified": [None] * len(batch),
                    "content_type": ["application/json"] * len(batch),
                    # Distinct instants: a page is identified by (run, fetched_at).
                    "fetched_at": [
                        fetched_at + timedelta(microseconds=i + j) for j in range(len(batch))
                    ],
                    "payload": [b[3].decode() for b in batch],
                    "payload_bytes": [len(b[3]) for b in batch],
                    "payload_sha256": [hashlib.sha256(b[3]).hexdigest() for b in batch],
                },
                schema=arrow_schema,
            )
        )
    for t in TABLES.values():
        ensure_table(spark, t)
    t1 = time.perf_counter()
    bronze_rows = rebuild_bronze(spark)
    bronze_seconds = time.perf_counter() - t1
    heartrate = spark.table(TABLES["heartrate"].identifier).count()
    spark.stop()
    return {
        "years": years,
        "raw_pages": len(rows),
        "raw_mib": round(raw_bytes / 2**20, 1),
        "records": records,
        "bronze_rows": bronze_rows,
        "heartrate_samples": heartrate,
        "generate_s": round(generate_seconds, 1),
        "raw_to_bronze_s": round(bronze_seconds, 1),
        "records_per_s": round(records / bronze_seconds),
        "floor_orjson_one_core_s": round(parse_seconds, 2),
        "ratio_to_floor": round(bronze_seconds / parse_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    OUT.mkdir(exist_ok=True)
    results_file = OUT / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["oura_raw_to_bronze"] = bench_oura_raw_to_bronze(args.years)
    print(json.dumps({"oura_raw_to_bronze": results["oura_raw_to_bronze"]}, indent=2))
    results_file.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
