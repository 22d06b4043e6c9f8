"""Job arguments: plain argparse under spark-submit, Glue's getResolvedOptions on Glue."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from spark_jobs.common.session import render_properties, submit_properties
from spark_jobs.jobs.args import parse_job_args
from spark_jobs.jobs.ingest import build_parser
from spark_jobs.settings import load_settings
from spark_jobs.sources import REGISTERED, get_source

GLUE_LIBS = Path(__file__).resolve().parents[2] / ".venv" / "glue-libs"


@pytest.fixture(scope="module")
def get_resolved_options():
    """AWS Glue's real `getResolvedOptions` (installed by `make setup`), imported in isolation."""
    assert (GLUE_LIBS / "awsglue").is_dir(), "run `make setup` (installs awsglue into .venv)"
    sys.path.insert(0, str(GLUE_LIBS))
    try:
        yield importlib.import_module("awsglue.utils").getResolvedOptions
    finally:
        sys.path.remove(str(GLUE_LIBS))
        for name in [m for m in sys.modules if m == "awsglue" or m.startswith("awsglue.")]:
            del sys.modules[name]


@pytest.mark.parametrize("source", REGISTERED)
def test_plain_command_line(source: str) -> None:
    src = get_source(source)
    first = "2024-01" if src.period == "month" else "2024-01-31"
    argv = ["--source", source, f"--{src.account.plural}", "a,b", "--from", first, "--refresh"]
    args = parse_job_args(build_parser(), argv)
    assert (args.source, args.accounts, args.first, args.last, args.refresh) == (
        source,
        "a,b",
        first,
        None,
        True,
    )


def test_plain_command_line_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_job_args(build_parser(), ["--source", "chesscom", "--players", "a", "--frm", "x"])
    assert exc.value.code == 2
    assert "--frm" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        parse_job_args(build_parser(), ["--source", "nosuchapi", "--players", "a"])
    assert exc.value.code == 2
    assert "nosuchapi" in capsys.readouterr().err


def test_glue_parameters(get_resolved_options, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_WAREHOUSE", raising=False)
    argv = [
        "--JOB_NAME", "lakehouse-chesscom-ingest",
        "--JOB_RUN_ID", "jr_123",
        "--job-bookmark-option", "job-bookmark-disable",
        "--TempDir", "s3://bucket/tmp",
        "--source", "chesscom",
        "--players", "hikaru",
        "--from", "2024-01",
        "--refresh", "false",
        "--LAKEHOUSE_WAREHOUSE", "s3://bucket/lake",
    ]  # fmt: skip
    args = parse_job_args(build_parser(), argv, resolver=get_resolved_options)
    assert (args.source, args.accounts, args.first, args.last, args.refresh) == (
        "chesscom",
        "hikaru",
        "2024-01",
        None,
        False,
    )
    assert os.environ["LAKEHOUSE_WAREHOUSE"] == "s3://bucket/lake"


@pytest.mark.parametrize("source", REGISTERED)
def test_glue_parameters_of_every_source(get_resolved_options, source: str) -> None:
    """The arguments the Airflow DAGs pass to each source's Glue job (`--source` first)."""
    src = get_source(source)
    first, last = ("2024-01", "2024-02") if src.period == "month" else ("2024-01-24", "2024-01-31")
    argv = [
        "--JOB_NAME", f"lakehouse-{source}-ingest",
        "--source", source,
        f"--{src.account.plural}", "a,b",
        "--from", first,
        "--to", last,
    ]  # fmt: skip
    args = parse_job_args(build_parser(), argv, resolver=get_resolved_options)
    assert (args.source, args.accounts, args.first, args.last) == (source, "a,b", first, last)


def test_glue_flag_true_and_missing_required(get_resolved_options) -> None:
    argv = ["--JOB_NAME", "j", "--source", "chesscom", "--players", "a", "--refresh", "true"]
    assert parse_job_args(build_parser(), argv, resolver=get_resolved_options).refresh is True
    with pytest.raises(SystemExit) as exc:
        parse_job_args(
            build_parser(), ["--JOB_NAME", "j", "--players", "a"], resolver=get_resolved_options
        )
    assert exc.value.code == 2


def test_submit_properties_never_hold_secrets(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "LAKEHOUSE_HOME": str(tmp_path),
            "LAKEHOUSE_CATALOG": "postgres",
            "LAKEHOUSE_CATALOG_URI": "jdbc:postgresql://db:5432/iceberg",
            "LAKEHOUSE_CATALOG_USER": "iceberg",
            "LAKEHOUSE_CATALOG_PASSWORD": "pg-secret-value",
            "LAKEHOUSE_WAREHOUSE": "s3://bucket/lake",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        }
    )
    props = submit_properties(settings)
    text = render_properties(props, "header line")
    assert "pg-secret-value" not in text and "aws-secret-value" not in text
    assert "AKIAEXAMPLE" not in text
    assert props["spark.sql.catalog.lake.uri"] == "jdbc:postgresql://db:5432/iceberg"
    assert props["spark.sql.catalog.lake.jdbc.user"] == "iceberg"
    jars = props["spark.jars"].split(",")
    # Pinned Maven jars from the download cache: the PostgreSQL driver and S3FileIO's bundle.
    assert any(j.endswith(".jar") and "/postgresql-" in j for j in jars)
    assert any("/iceberg-aws-bundle-" in j for j in jars)
    assert props["spark.sql.catalog.lake.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert text.startswith("# header line\n")


def test_submit_properties_name_this_python(tmp_path: Path) -> None:
    """spark-submit's default is the first `python3` on PATH, which lacks the venv's packages."""
    local = submit_properties(load_settings({"LAKEHOUSE_HOME": str(tmp_path)}))
    assert local["spark.pyspark.python"] == sys.executable
    assert local["spark.pyspark.driver.python"] == sys.executable
    # A cluster: the driver runs here (client mode); the workers' Python is the cluster's.
    cluster = submit_properties(
        load_settings({"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_SPARK_MASTER": "spark://h:7077"})
    )
    assert cluster["spark.pyspark.driver.python"] == sys.executable
    assert "spark.pyspark.python" not in cluster


def test_package_zip_is_importable(tmp_path: Path) -> None:
    """The archive for --py-files / Glue's --extra-py-files holds an importable package."""
    import subprocess
    import zipfile

    from spark_jobs.jobs.package import build_zip

    archive = build_zip(tmp_path / "spark_jobs.zip")
    # The entrypoint and its parser, which imports the registry and every source module.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import spark_jobs.jobs.ingest as job; "
        "job.build_parser(); "
        "assert not [m for m in sys.modules if m.startswith('spark_jobs.sandbox')]; "
        "print(job.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code, str(archive)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    # -S: no site-packages, so the editable install cannot stand in for the archive.
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(archive)), done.stderr

    names = zipfile.ZipFile(archive).namelist()
    assert "spark_jobs/jobs/ingest.py" in names
    assert "spark_jobs/sources.py" in names
    assert "spark_jobs/conf/log4j2.properties" in names
    assert not [n for n in names if "__pycache__" in n]
    # The API sandbox and the game generator are test and demo tools, not shipped.
    assert (Path(__file__).resolve().parents[2] / "spark_jobs/sandbox").is_dir()
    assert not [n for n in names if n.startswith("spark_jobs/sandbox/")]
