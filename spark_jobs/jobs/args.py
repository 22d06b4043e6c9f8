"""Job arguments from the command line (spark-submit) or from Glue's job parameters.

Glue passes `--KEY value` pairs plus its own (`--JOB_NAME`, ...); `getResolvedOptions`
reads them when the Glue library is present. Elsewhere plain argparse does the same job,
so one job file runs under both launchers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def parse_job_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None):
    """Parse with argparse, ignoring unknown (launcher-added) options such as Glue's."""
    args, unknown = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    try:  # AWS Glue: resolve the job parameters the way Glue documents it.
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        return args
    names = [a.dest for a in parser._actions if a.dest != "help"]
    glue = getResolvedOptions(sys.argv, [n for n in names if f"--{n}" in sys.argv])
    for key, value in glue.items():
        setattr(args, key, value)
    del unknown
    return args
