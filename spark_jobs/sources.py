"""The registry of sources: the one place a new source is named.

    from spark_jobs.sources import all_sources, get_source
    for source in all_sources(): ...

Each name is a folder `spark_jobs/<name>/` whose `source.py` defines `SOURCE`
(a `spark_jobs.common.source.Source`). Adding a source: create its folder, add its name here.
"""

from __future__ import annotations

import importlib
from functools import cache

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.source import Source

REGISTERED: tuple[str, ...] = ("chesscom", "oura", "whoop")


@cache
def get_source(name: str) -> Source:
    """The registered source `name`, or ConfigError listing the known ones."""
    if name not in REGISTERED:
        raise ConfigError(f"unknown source {name!r}; use one of: {', '.join(REGISTERED)}")
    return importlib.import_module(f"spark_jobs.{name}.source").SOURCE


def all_sources() -> list[Source]:
    """Every registered source, in registry order."""
    return [get_source(name) for name in REGISTERED]
