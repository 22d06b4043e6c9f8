"""`lakehouse transform` wiring: help text, option validation, exit codes (no Spark)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from spark_jobs.cli import main
from spark_jobs.settings import load_settings
from spark_jobs.transform import (
    EXIT_BAD_INPUT,
    INPUT_PROPERTY_PREFIX,
    Mart,
    changed_sources,
    dbt_code_fingerprint,
    dbt_env,
    run_transform,
    stale_marts,
)


def test_transform_help_explains_write_audit_publish() -> None:
    result = CliRunner().invoke(main, ["transform", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for words in ("--target", "--select", "--full-refresh", "Write-audit-publish", "audit"):
        assert words in text
    assert "fast-forwarded" in text and "exits 1" in text


def test_unknown_target_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["transform", "--target", "duckdb"])
    assert result.exit_code == 2
    lines: list[str] = []
    settings = load_settings({"LAKEHOUSE_HOME": "/nonexistent-lakehouse"})
    assert run_transform(settings, target="duckdb", echo=lines.append) == EXIT_BAD_INPUT
    assert "unknown target" in lines[0]


def test_profile_env_comes_from_the_settings_and_holds_no_secret(tmp_path: Path) -> None:
    settings = load_settings(
        {"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_CATALOG_PASSWORD": "s3cret"}
    )
    env = dbt_env(settings)
    assert env["LAKEHOUSE_DBT_CATALOG_URI"] == f"jdbc:sqlite:{tmp_path / 'catalog.db'}"
    assert env["LAKEHOUSE_DBT_WAREHOUSE"] == settings.warehouse
    assert "iceberg-spark-runtime" in env["LAKEHOUSE_DBT_SPARK_JARS"]
    assert "s3cret" not in " ".join(env.values())
    profiles = (Path(__file__).parents[2] / "dbt_project" / "profiles.yml").read_text()
    # Every connection value that could be secret comes from the environment.
    assert "password: \"{{ env_var('TRINO_PASSWORD'" in profiles


def test_marts_of_an_older_version_are_the_ones_reloaded() -> None:
    declared = [
        Mart("fct_chess_games", "incremental", 2),
        Mart("agg_rapid_chess_daily", "incremental", 2),
        Mart("daily_health", "incremental", 1),
        Mart("ranked_best_openings", "incremental", 2),
    ]
    stored = {
        "fct_chess_games": 1,  # published by the previous code (no version: 1)
        "agg_rapid_chess_daily": 2,  # already upgraded
        "daily_health": 1,  # its model is still version 1
        # ranked_best_openings: does not exist yet, its first load reads everything
    }
    assert stale_marts(declared, stored) == ["fct_chess_games"]


def test_the_code_fingerprint_follows_the_project_the_adapter_and_the_vars() -> None:
    base = dbt_code_fingerprint("local", {"chess_timezone": "UTC"})
    assert base == dbt_code_fingerprint("local", {"chess_timezone": "UTC"})
    assert base != dbt_code_fingerprint("local", {"chess_timezone": "Europe/Madrid"})
    assert base != dbt_code_fingerprint("trino", {"chess_timezone": "UTC"})


def test_changed_sources_are_those_some_mart_was_not_built_on() -> None:
    inputs = {"chesscom": "c2", "oura": "o1"}
    built_on = {INPUT_PROPERTY_PREFIX + "chesscom": "c1", INPUT_PROPERTY_PREFIX + "oura": "o1"}
    assert changed_sources(inputs, {"fct": built_on, "daily": built_on}) == ["chesscom"]
    current = {INPUT_PROPERTY_PREFIX + "chesscom": "c2", INPUT_PROPERTY_PREFIX + "oura": "o1"}
    assert changed_sources(inputs, {"fct": current}) == []
    # A mart published before inputs were recorded was built on unknown bronze.
    assert changed_sources(inputs, {"fct": current, "old": {}}) == ["chesscom", "oura"]
