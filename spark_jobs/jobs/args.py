"""Job arguments from the command line (spark-submit) or from Glue's job parameters.

One job file, two launchers:

- spark-submit: `job.py --players hikaru --from 2024-01`, parsed by argparse (strict:
  an unknown or malformed option is a usage error, exit 2).
- AWS Glue: the job parameters arrive as `--key value` pairs mixed with Glue's own
  (`--JOB_NAME`, `--TempDir`, `--job-bookmark-option`, ...). When the Glue library is
  importable, `awsglue.utils.getResolvedOptions` resolves them as Glue documents it, and
  the values are handed to the same argparse parser (so types, choices and required
  options are checked once). Glue passes flags as values (`--refresh true`).

Glue jobs have no environment of their own, so a job parameter named like a setting
(`--LAKEHOUSE_CATALOG glue`, `--LAKEHOUSE_WAREHOUSE s3://...`, `--CHESSCOM_USER_AGENT ...`)
becomes that environment variable before the settings are read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

SETTING_PREFIXES = ("LAKEHOUSE_", "CHESSCOM_", "OURA_", "WHOOP_", "AWS_REGION")
_TRUE = {"true", "1", "yes", "y", "on"}


def _glue_resolver():
    """`getResolvedOptions` when running on Glue (or with its library installed), else None."""
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        return None
    return getResolvedOptions


def _option_names(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """`--long-option` name (without dashes) -> its action, for every option of `parser`."""
    names = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and action.dest != "help":
                names[option[2:]] = action
    return names


def _from_glue(parser: argparse.ArgumentParser, argv: list[str], resolve) -> list[str]:
    """Glue's resolved job parameters, rewritten as a plain argparse command line."""
    options = _option_names(parser)
    settings = [a[2:] for a in argv if a.startswith("--") and a[2:].startswith(SETTING_PREFIXES)]
    present = [name for name in options if f"--{name}" in argv]
    # getResolvedOptions expects sys.argv (program name first).
    resolved = resolve(["job", *argv], present + settings)
    for name in settings:
        os.environ[name] = resolved[name]
    out: list[str] = []
    for name in present:
        action, value = options[name], resolved[name]
        if action.nargs == 0:  # a flag: Glue passes it as "--refresh true"
            if str(value).strip().lower() in _TRUE:
                out.append(f"--{name}")
        else:
            out += [f"--{name}", value]
    return out


def parse_job_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, *, resolver=None
) -> argparse.Namespace:
    """Parse a job's arguments under spark-submit (argparse) or Glue (getResolvedOptions).

    Args:
        parser: the job's argparse parser (its long options are the Glue parameter names).
        argv: arguments without the program name (default: sys.argv[1:]).
        resolver: Glue's getResolvedOptions; found automatically when importable.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    resolve = resolver or _glue_resolver()
    if resolve is None:
        return parser.parse_args(args)
    return parser.parse_args(_from_glue(parser, args, resolve))
