"""Zip the `spark_jobs` package for executors and Glue (`--py-files` / `--extra-py-files`).

    python -m spark_jobs.jobs.package dist/spark_jobs.zip      # or: make dist

A cluster's executors and a Glue job import the project from this archive; the job script
itself (spark_jobs/jobs/<job>.py) is passed to the launcher as the application.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent


def build_zip(target: Path | str) -> Path:
    """Write the package (sources and data files, no caches) to `target`; returns it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(PACKAGE.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
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
