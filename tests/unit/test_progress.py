"""The heartbeat that keeps long steps from looking like a hang (spark_jobs/common/progress.py)."""

from __future__ import annotations

import time

from spark_jobs.common.progress import Activity, heartbeat


def test_a_silent_step_gets_a_line_every_interval() -> None:
    lines: list[str] = []
    with heartbeat("merging 3 periods into bronze", lines.append, every=0.2):
        time.sleep(1.1)
    assert lines[0] == "merging 3 periods into bronze"
    beats = lines[1:]
    assert len(beats) >= 3  # ~5 at 0.2 s; fewer only if this machine stalls for long
    assert all(b.startswith("... merging 3 periods into bronze (") for b in beats)
    assert beats[-1].endswith(" s)")


def test_a_step_that_shows_its_own_progress_gets_no_extra_lines() -> None:
    lines: list[str] = []
    activity = Activity()
    with heartbeat("dbt build running", lines.append, every=1.0, activity=activity, announce=False):
        for _ in range(30):  # dbt printing a line every 50 ms
            time.sleep(0.05)
            activity.touch()
    assert lines == []


def test_only_the_innermost_step_speaks() -> None:
    lines: list[str] = []
    with heartbeat("outer", lines.append, every=0.2):
        inner = Activity()
        with heartbeat("inner", lines.append, every=0.2, activity=inner, announce=False):
            time.sleep(0.9)
    inner_beats = [x for x in lines if x.startswith("... inner")]
    assert inner_beats and not any(x.startswith("... outer") for x in lines)


def test_quiet_mode_prints_no_heartbeat(monkeypatch) -> None:
    from spark_jobs.common import progress

    monkeypatch.setattr(progress, "QUIET", True)  # what `lakehouse -q` sets
    lines: list[str] = []
    with heartbeat("rebuilding bronze", lines.append, every=0.1):
        time.sleep(0.5)
    assert lines == []
