"""The source registry and the shared helpers every source builds on."""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner

from spark_jobs.cli import main
from spark_jobs.common.errors import ConfigError
from spark_jobs.common.periods import (
    check_order,
    month_end,
    month_last_day,
    month_windows,
    validate_date,
    validate_month,
)
from spark_jobs.sources import REGISTERED, all_sources, get_source


def test_registry_loads_every_source_once():
    names = [s.name for s in all_sources()]
    assert names == list(REGISTERED) == ["chesscom", "oura", "whoop"]
    assert get_source("oura") is get_source("oura")
    with pytest.raises(ConfigError, match="unknown source 'nope'; use one of: chesscom, oura"):
        get_source("nope")


@pytest.mark.parametrize("name", REGISTERED)
def test_each_source_owns_its_tables(name):
    src = get_source(name)
    tables = src.tables()
    assert tables, name
    for table in tables:
        assert table.namespace == "bronze"
        assert table.name.startswith(f"{name}_"), table.name
        assert table.keys, table.name
    for wm in src.watermarks:
        assert wm.bronze_table in {t.identifier for t in tables}


@pytest.mark.parametrize("name", REGISTERED)
def test_cli_has_ingest_and_rebuild_for_every_source(name):
    src = get_source(name)
    runner = CliRunner()
    out = runner.invoke(main, ["ingest", name, "--help"])
    assert out.exit_code == 0, out.output
    assert f"--{src.account.name}" in out.output and "--from" in out.output
    assert runner.invoke(main, ["rebuild", name, "--help"]).exit_code == 0
    auth = runner.invoke(main, ["auth", name, "--help"])
    assert (auth.exit_code == 0) == src.needs_auth


def test_bad_dates_are_named_before_anything_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    runner = CliRunner()
    out = runner.invoke(main, ["ingest", "oura", "--from", "2024-13-01"])
    assert out.exit_code == 2
    assert "--from '2024-13-01' is not a date: use YYYY-MM-DD" in out.output
    out = runner.invoke(main, ["ingest", "oura", "--from", "2024-05-02", "--to", "2024-05-01"])
    assert out.exit_code == 2 and "--from 2024-05-02 is after --to 2024-05-01" in out.output
    out = runner.invoke(main, ["ingest", "chesscom", "-p", "x!"])
    assert out.exit_code == 2 and "is not a chess.com username" in out.output
    # No Spark session was needed for any of this: nothing was created.
    assert not (tmp_path / "catalog.db").exists()


def test_oura_without_token_names_the_auth_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    monkeypatch.delenv("OURA_PERSONAL_ACCESS_TOKEN", raising=False)
    out = CliRunner().invoke(main, ["ingest", "oura", "--account", "ana"])
    assert out.exit_code == 2
    assert "run `lakehouse auth oura --account ana`" in out.output


def test_job_entrypoint_accepts_every_source():
    from spark_jobs.jobs.ingest import build_parser

    args = build_parser().parse_args(
        ["--source", "oura", "--accounts", "a,b", "--from", "2024-01-01"]
    )
    assert (args.source, args.accounts, args.first) == ("oura", "a,b", "2024-01-01")
    args = build_parser().parse_args(["--source", "chesscom", "--players", "hikaru"])
    assert args.accounts == "hikaru"


def test_period_helpers():
    assert validate_month("2024-02") == "2024-02"
    with pytest.raises(ConfigError, match="--to '2024-2' is not a month"):
        validate_month("2024-2", "--to")
    assert validate_date("2024-02-29") == date(2024, 2, 29)
    with pytest.raises(ConfigError, match="--from '2023-02-29' is not a date"):
        validate_date("2023-02-29", "--from")
    check_order(date(2024, 1, 1), date(2024, 1, 1))
    with pytest.raises(ConfigError, match="swap them"):
        check_order("2024-02", "2024-01")
    assert month_end("2024-12").isoformat() == "2025-01-01T00:00:00+00:00"
    assert month_last_day("2024-02") == date(2024, 2, 29)
    assert list(month_windows(date(2024, 1, 20), date(2024, 3, 2))) == [
        (date(2024, 1, 20), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 2)),
    ]
    assert list(month_windows(date(2024, 1, 1), date(2024, 1, 31), max_days=16)) == [
        (date(2024, 1, 1), date(2024, 1, 16)),
        (date(2024, 1, 17), date(2024, 1, 31)),
    ]
