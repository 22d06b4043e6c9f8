"""The crash suite's report: one line per kill point, printed at the end of the run."""

from __future__ import annotations

import pytest

from tests.chaos.crash import RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("crash suite (kill -9, then the next run; compared with a clean run)")
    for result in RESULTS:
        write(result.line())
    compared = sum(r.tables for r in RESULTS)
    mismatches = sum(len(r.mismatches) for r in RESULTS)
    write(
        f"{len(RESULTS)} kill points, {compared} tables compared by content hash, "
        f"{mismatches} mismatches"
    )
