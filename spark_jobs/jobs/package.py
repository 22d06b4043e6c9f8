"""Zip the `spark_jobs` package for executors and Glue (`--py-files` / `--extra-py-files`).

    python -m spark_jobs.jobs.package dist/spark_jobs.zip      # or: make dist

A cluster's executors and a Glue job import the project from this archive; the job script
itself (spark_jobs/jobs/ingest.py) is passed to the launcher as the application. The API
sandbox and its game generator (spark_jobs/sandbox/) are test and demo tools: they stay out.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
EXCLUDED = ("sandbox",)
"""Subpackages of spark_jobs/ that are not shipped (nothing a job imports lives there)."""


def _shipped(path: Path) -> bool:
    relative = path.relative_to(PACKAGE)
    return not (
        path.is_dir()
        or "__pycache__" in relative.parts
        or path.suffix == ".pyc"
        or relative.parts[0] in EXCLUDED
    )


def build_zip(target: Path | str) -> Path:
    """Write the package (sources and data files; no caches, no sandbox) to `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in PACKAGE.rglob("*") if _shipped(p)):
            archive.write(path, Path(PACKAGE.name) / path.relative_to(PACKAGE))
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m spark_jobs.jobs.package OUTPUT.zip", file=sys.stderr)
        return 2
    print(f"wrote {build_zip(args[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
