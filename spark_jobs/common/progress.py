"""Never silent for long: a heartbeat over steps that run inside the JVM or dbt.

    with heartbeat("demo_player: merging 72 periods into bronze", log.info):
        merge(...)

prints the label when the step starts, then `... <label> (8 s)` every HEARTBEAT_EVERY
seconds until it ends, so a long MERGE, a rebuild or Spark's start-up never looks like a
hang. Over a step that prints its own lines (dbt), it speaks only when the step has been
silent that long. It prints through the given function: with `-q` that is silent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

HEARTBEAT_EVERY = 3.5
"""Seconds between two heartbeat lines (the promise is: no silence over 5 s)."""


class Activity:
    """When something last showed progress (`touch` fits a dbt callback's signature)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def touch(self, *_: object) -> None:
        self.last = time.monotonic()


QUIET = False
"""Set by `lakehouse -q`: no heartbeat lines, also where they go to a command's own output."""

LAST_OUTPUT = Activity()
"""When this process last printed a progress line: heartbeat lines and, once
:class:`TouchHandler` is installed, every log record. Silence is measured from it, so
several short steps in a row still get a line every HEARTBEAT_EVERY seconds."""


class TouchHandler(logging.Handler):
    """A logging handler that only notes that a line was printed (install it next to the
    handler that prints): `logging.getLogger().addHandler(TouchHandler())`."""

    def emit(self, record: logging.LogRecord) -> None:
        LAST_OUTPUT.touch()


@contextmanager
def heartbeat(
    label: str,
    progress: Callable[[str], None],
    every: float = HEARTBEAT_EVERY,
    activity: Activity | None = None,
    announce: bool = True,
) -> Iterator[None]:
    """Print `label` (unless not `announce`), then a line whenever `every` seconds passed
    without any (LAST_OUTPUT) and, given `activity`, without the step itself showing
    something (dbt, through its event callback)."""

    def say(line: str) -> None:
        if not QUIET:
            progress(line)
        LAST_OUTPUT.touch()

    if announce:
        say(label)
    started = time.monotonic()
    # Silence counts from the last line printed, not from this step's start: short steps
    # in a row still get a line every `every` seconds.
    seen = activity or Activity()
    if activity is None:
        seen.last = float("-inf")
    done = threading.Event()

    def beat() -> None:
        while not done.wait(min(0.25, every)):
            quiet = time.monotonic() - max(seen.last, LAST_OUTPUT.last)
            # A step inside a step (dbt inside "checking the marts"): the inner one speaks.
            if _active[-1] is seen and quiet >= every:
                say(f"... {label} ({time.monotonic() - started:.0f} s)")

    _active.append(seen)
    thread = threading.Thread(target=beat, name="lakehouse-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        _active.remove(seen)


_active: list[Activity] = []
"""The heartbeats running now, innermost last."""
