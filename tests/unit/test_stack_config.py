"""`lakehouse stack` configuration, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_jobs.common.artifacts import go_tool_version, maven_artifact, maven_artifacts
from spark_jobs.stack.services import (
    Credentials,
    StackConfig,
    StackError,
    stack_env,
    trino_java_home,
    write_trino_etc,
)


def test_ports_come_from_the_environment_and_bad_ones_are_named(tmp_path: Path) -> None:
    cfg = StackConfig.from_env(tmp_path, {"LAKEHOUSE_STACK_TRINO_PORT": "18085"})
    assert cfg.ports == {"postgres": 5433, "s3": 9000, "trino": 18085, "spark": 7077}
    assert cfg.root == tmp_path / "stack"
    with pytest.raises(StackError, match="LAKEHOUSE_STACK_S3_PORT='99999'"):
        StackConfig.from_env(tmp_path, {"LAKEHOUSE_STACK_S3_PORT": "99999"})


def test_credentials_are_generated_once_and_private(tmp_path: Path) -> None:
    cfg = StackConfig.from_env(tmp_path, {})
    cfg.root.mkdir(parents=True)
    first = Credentials.load_or_create(cfg)
    assert Credentials.load_or_create(cfg) == first
    assert cfg.credentials_file.stat().st_mode & 0o777 == 0o600
    assert len(first.db_password) >= 20 and first.s3_access_key != first.s3_secret_key
    assert first.db_password not in repr(cfg)


def test_stack_env_points_every_setting_at_the_stack(tmp_path: Path) -> None:
    from spark_jobs.settings import load_settings

    cfg = StackConfig.from_env(tmp_path, {"LAKEHOUSE_STACK_POSTGRES_PORT": "15433"})
    env = stack_env(cfg, Credentials("pw", "AK", "SK"), tmp_path)
    settings = load_settings(env)  # the exported variables form a valid deployment
    assert settings.catalog_type == "postgres"
    assert settings.catalog_uri == "jdbc:postgresql://127.0.0.1:15433/iceberg"
    assert settings.warehouse == "s3://lakehouse/warehouse"
    assert settings.s3.endpoint == "http://127.0.0.1:9000"
    assert settings.spark_master == "spark://127.0.0.1:7077"
    assert env["TRINO_PORT"] == "8085" and env["LAKEHOUSE_DBT_TARGET"] == "trino"


def test_trino_config_is_sized_and_holds_no_secret(tmp_path: Path) -> None:
    cfg = StackConfig.from_env(tmp_path, {"LAKEHOUSE_STACK_TRINO_HEAP": "4G"})
    write_trino_etc(tmp_path / "etc", tmp_path / "data", cfg)
    jvm = (tmp_path / "etc" / "jvm.config").read_text().splitlines()
    assert "-Xmx4G" in jvm and "--add-modules=jdk.incubator.vector" in jvm
    config = (tmp_path / "etc" / "config.properties").read_text()
    assert "http-server.http.port=8085" in config and "query.max-memory=2GB" in config
    catalog = (tmp_path / "etc" / "catalog" / "lake.properties").read_text()
    assert "${ENV:LAKEHOUSE_CATALOG_PASSWORD}" in catalog


def test_a_missing_java_for_trino_says_what_to_install(tmp_path: Path) -> None:
    fake = tmp_path / "jdk17"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "java").touch()
    (fake / "release").write_text('JAVA_VERSION="17.0.15"\n')
    assert trino_java_home({"LAKEHOUSE_TRINO_JAVA_HOME": str(fake)}) != fake
    newer = sorted(Path("/usr/lib/jvm").glob("temurin-2[4-9]*"))
    if not newer:
        with pytest.raises(StackError, match="Java 24 or newer"):
            trino_java_home({"LAKEHOUSE_TRINO_JAVA_HOME": str(fake)})


def test_pins_are_read_from_the_pom_and_go_mod() -> None:
    runtime = maven_artifact("spark-jars", "iceberg-spark-runtime-3.5_2.12")
    bundle = maven_artifact("spark-jars", "iceberg-aws-bundle")
    assert runtime.version == bundle.version  # one Iceberg version for both jars
    assert runtime.file_name == f"iceberg-spark-runtime-3.5_2.12-{runtime.version}.jar"
    trino = {a.artifact_id: a for a in maven_artifacts("trino")}
    assert trino["trino-server-core"].file_name == "trino-server-core-476.tar.gz"
    assert trino["trino-iceberg"].type == "zip"
    assert trino["trino-cli"].file_name == "trino-cli-476-executable.jar"
    assert go_tool_version("github.com/versity/versitygw/cmd/versitygw") == "v1.7.0"


def test_a_reused_pid_is_never_taken_for_a_service(tmp_path: Path) -> None:
    """After a reboot a pid file may name another program: its start time tells them apart."""
    import os

    from spark_jobs.stack.services import S3Server, _start_time

    cfg = StackConfig.from_env(tmp_path, {})
    svc = S3Server(cfg, Credentials("pw", "AK", "SK"))
    svc.dir.mkdir(parents=True)
    me = os.getpid()
    svc.pid_file.write_text(f"{me} {_start_time(me)}\n")
    assert svc.pid() == me
    svc.pid_file.write_text(f"{me} 1\n")  # same pid, another process's start time
    assert svc.pid() is None and svc.status() == "stopped"
    assert svc.stop() is False  # nothing is signalled
