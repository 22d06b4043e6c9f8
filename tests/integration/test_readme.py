"""README.md works as written: every command of its bash blocks is run by a test.

Each runner takes its block's commands from the README at run time
(tests/readme_commands.py) and runs them exactly as written (`bash -e -c`, the text
unchanged) from the repository root, in a fresh clone's environment: the system PATH (no
venv), no LAKEHOUSE_*/CHESSCOM_*/OURA_* variable inherited, a temporary LAKEHOUSE_HOME,
and only what a user's machine would add: the sandbox's URLs, free ports through the
project's own settings, the documented placeholders made real (the sandbox serves the
players `your_username`, `hikaru`, `magnuscarlsen` and the Oura person `me`). Long-running
commands run until their service answers, then get Ctrl-C. Files the commands write into
the repository root (.env, chesscom-job.json, dist/) are put back afterwards.

`test_every_readme_command_is_claimed` fails for a README command that no runner runs and
that OUTSIDE_REACH does not list with its reason.
"""

from __future__ import annotations

import json
import re
import stat
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import recent_month
from tests.integration.conftest import DemoLakehouse
from tests.readme_commands import (
    ROOT,
    Command,
    failed,
    fresh_clone_env,
    interrupt_group,
    readme_block,
    readme_blocks,
    readme_commands,
    root_files,
    run_readme,
    start_readme,
    wait_until_answers,
)
from tests.superset_browser import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

STACK = "Production on one machine (`lakehouse stack`)"
DOCKER = "With Docker (compose, MinIO)"
AWS = "On AWS (S3 + Glue Data Catalog + Glue jobs + Trino)"
SUBMIT = "spark-submit and AWS Glue"
HERE = "tests/integration/test_readme.py"
STACK_UP = (
    ".venv/bin/lakehouse stack up                 # ~1 min warm; the first run downloads Trino"
)
STACK_DOWN = ".venv/bin/lakehouse stack down               # stops what `up` started; data is kept"

# Which test runs each README block (heading, index of the block under it), or one command
# of it (heading, index, text). A runner runs every command of its block but those listed
# in OUTSIDE_REACH or claimed by another runner, so a command added to a block is run.
RUNNERS: dict[tuple, str] = {
    (
        "Two commands",
        0,
        "make demo   # set-up, then the whole pipeline offline on the embedded lakehouse",
    ): ("tests/integration/conftest.py::demo_lakehouse"),
    ("Two commands", 0, "make test   # set-up, then the tests (CI runs this: .ci/run)"): (
        ".ci/run"  # CI runs `make test` itself: see test_ci_runs_make_test
    ),
    ("Two commands", 1): f"{HERE}::test_queries_after_the_demo",
    ("Using it with your own data", 0): f"{HERE}::test_own_data_block",
    ("Crashes and the run logs", 0): f"{HERE}::test_status_block",
    ("Dashboards (Superset)", 0): f"{HERE}::test_dashboards_block",
    ("Scheduling (Airflow)", 0): f"{HERE}::test_airflow_block",
    (STACK, 0, STACK_UP): "tests/stack/conftest.py::stack",
    (STACK, 0, STACK_DOWN): "tests/stack/conftest.py::stack",  # its teardown
    (STACK, 0): "tests/stack/test_stack_readme.py::test_stack_section",
    (STACK, 1): "tests/stack/test_stack_readme.py::test_stack_section",
    (DOCKER, 0): f"{HERE}::test_docker_block",
    (AWS, 0): f"{HERE}::test_aws_block",
    (SUBMIT, 0): "tests/integration/test_spark_submit.py::test_readme_spark_submit_runs_as_written",
    (SUBMIT, 1): f"{HERE}::test_cluster_block",
    ("The sandbox", 0): f"{HERE}::test_sandbox_line",
}

# Commands no machine of this project can run (heading, text) -> why. Nothing else.
OUTSIDE_REACH: dict[tuple[str, str], str] = {
    (DOCKER, "docker compose up -d    # PostgreSQL catalog, MinIO + bucket, Trino 476 on :8080"): (
        "no Docker engine on the development and CI machines, and no compose plugin "
        "(`docker compose config` is unknown too); tests/unit/test_infra_config.py checks "
        "docker-compose.yml's settings instead"
    ),
    (DOCKER, ".venv/bin/lakehouse ingest chesscom -p NAME"): (
        "needs the compose services (PostgreSQL on :5432, MinIO on :9000) that "
        "`docker compose up -d` starts; the same command runs on `lakehouse stack` "
        "(tests/stack/test_stack_readme.py)"
    ),
    (DOCKER, ".venv/bin/lakehouse transform --target trino"): (
        "needs compose's Trino on :8080; runs on `lakehouse stack`'s Trino instead "
        "(tests/stack/test_stack_readme.py)"
    ),
    (AWS, "TRINO_HOST=your-trino TRINO_PORT=8080 .venv/bin/lakehouse transform --target trino"): (
        "needs a Trino whose catalog `lake` is the AWS Glue Data Catalog "
        "(infra/trino/glue/lake.properties), i.e. an AWS account"
    ),
    (
        SUBMIT,
        "PYSPARK_PYTHON=/path/to/python spark-submit --master spark://HOST:7077 \\\n"
        "    --properties-file infra/spark/spark-defaults.conf --py-files dist/spark_jobs.zip \\\n"
        "    spark_jobs/jobs/ingest.py --source chesscom --players hikaru --from 2024-01",
    ): (
        "a Spark distribution's spark-submit on a cluster whose properties file "
        "(infra/spark/spark-defaults.conf) names compose's hosts catalog-db:5432 and "
        "object-store:9000; the job itself runs under spark-submit in "
        "tests/integration/test_spark_submit.py and on the stack's Spark cluster"
    ),
}

# `aws` commands run as written against no AWS account: they must get as far as asking for
# credentials (arguments parsed, the input validated by botocore against the service
# model), which is everything that happens before AWS is reached.
NO_CREDENTIALS = "Unable to locate credentials"


def _claim(command: Command) -> str | None:
    if (command.heading, command.text) in OUTSIDE_REACH:
        return "OUTSIDE_REACH"
    return RUNNERS.get((*command.key, command.text)) or RUNNERS.get(command.key)


def runnable(heading: str, index: int = 0) -> list[Command]:
    """The commands of a block its runner runs (all but OUTSIDE_REACH and other claims)."""
    mine = RUNNERS[(heading, index)]
    return [c for c in readme_block(heading, index).commands if _claim(c) == mine]


# ------------------------------------------------------------------------- static
def test_every_readme_command_is_claimed() -> None:
    commands = readme_commands()
    assert len(commands) >= 40, "the README parser found too few commands"
    unclaimed = [f"README.md:{c.line} ({c.heading}): {c.text}" for c in commands if not _claim(c)]
    assert not unclaimed, "README commands no test runs (add a runner or OUTSIDE_REACH):\n" + (
        "\n".join(unclaimed)
    )
    texts = {(c.heading, c.text) for c in commands}
    stale = [k for k in OUTSIDE_REACH if k not in texts]
    assert not stale, f"OUTSIDE_REACH entries no longer in the README: {stale}"
    blocks = {b.key for b in readme_blocks()}
    for key, runner in RUNNERS.items():
        assert key[:2] in blocks, f"RUNNERS names a block the README no longer has: {key}"
        if len(key) == 3:
            assert (key[0], key[2]) in {(c.heading, c.text) for c in commands}, key
        path, _, name = runner.partition("::")
        source = (ROOT / path).read_text()
        assert not name or re.search(rf"^def {name}\(", source, re.MULTILINE), runner


def test_ci_runs_make_test() -> None:
    """README's `make test` is what CI runs: .ci/run ends with exactly that command."""
    lines = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln and ln[0] != "#"]
    assert lines[-1] == "make test"
    (make_test,) = [c for c in readme_block("Two commands").commands if c.text.startswith("make t")]
    assert make_test.text.split("#")[0].strip() == "make test"


def test_readme_says_the_tests_run_it() -> None:
    assert "tests/integration/test_readme.py" in (ROOT / "README.md").read_text()


# ---------------------------------------------------------------- the demo lakehouse
def _demo_env(demo: DemoLakehouse, **extra: str) -> dict[str, str]:
    return fresh_clone_env(demo.home, **extra)


def _scan(home: Path, table: str) -> list[dict]:
    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.settings import load_settings

    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))
    return catalog.load_table(table).scan().to_arrow().to_pylist()


def test_queries_after_the_demo(demo_lakehouse: DemoLakehouse) -> None:
    """The `lakehouse sql` block after `make demo`, on the demo's lakehouse."""
    env = _demo_env(demo_lakehouse)
    games = len(_scan(demo_lakehouse.home, "bronze.chesscom_games"))
    for command in runnable("Two commands", 1):
        done = run_readme(command, env, timeout=600)
        assert done.returncode == 0, failed(done, command.text)
        out = done.stdout
        if "count(*)" in command.text:
            assert re.search(rf"\b{games}\b", out), (games, out)
        elif "--format json" in command.text:
            rows = json.loads(out)
            assert rows and all("opening" in " ".join(r) for r in rows[:1]), out[:2000]
        else:
            table = re.search(r"from (lake\.\S+)", command.text).group(1)
            limit = int(re.search(r"limit (\d+)", command.text).group(1))
            data = [ln for ln in out.splitlines() if re.search(r"\d{4}-\d\d-\d\d", ln)]
            assert len(data) == limit, (table, out)


def test_status_block(demo_lakehouse: DemoLakehouse) -> None:
    env = _demo_env(demo_lakehouse)
    for command in runnable("Crashes and the run logs"):
        done = run_readme(command, env, timeout=600)
        assert done.returncode == 0, failed(done, command.text)
        assert "demo_player" in done.stdout and "rival_player" in done.stdout, done.stdout
        if command.text.split("#")[0].split()[-1] == "chesscom":  # one source
            assert "chesscom" in done.stdout and "oura" not in done.stdout.lower(), done.stdout


def test_dashboards_block(demo_lakehouse: DemoLakehouse, tmp_path: Path) -> None:
    """`dashboards import`, then `dashboards serve` until it answers, then Ctrl-C."""
    *imports, serve = runnable("Dashboards (Superset)")
    port = free_port()
    env = _demo_env(demo_lakehouse, LAKEHOUSE_SUPERSET_PORT=str(port))
    for command in imports:
        done = run_readme(command, env, timeout=900)
        assert done.returncode == 0, failed(done, command.text)
        assert "imported" in done.stdout
    log = tmp_path / "serve.log"
    proc = start_readme(serve, env, log)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_until_answers(proc, f"{url}/health", log, timeout=300) == b"OK"
        import urllib.request

        with urllib.request.urlopen(f"{url}/login/", timeout=30) as res:
            assert res.status == 200
    finally:
        interrupt_group(proc)
    assert "/superset/dashboard/chess/" in log.read_text()


# --------------------------------------------------------------- your own data
@pytest.fixture
def own_data_sandbox() -> Iterator[tuple[dict[str, str], object, object, object]]:
    """chess.com with the README's players, Oura and WHOOP with the person `me` (two weeks),
    whose OAuth apps are the sandbox's; the environment a user's .env would hold."""
    from spark_jobs.sandbox import SandboxServer
    from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
    from spark_jobs.sandbox.chesscom_generator import generate_history, generate_history_until
    from spark_jobs.sandbox.oura import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        OuraApp,
        OuraStore,
    )

    now = datetime.now(UTC)
    chess = ChessComStore()
    chess.add_player("your_username", generate_history_until("your_username", recent_month(1), now))
    for player in ("hikaru", "magnuscarlsen"):
        chess.add_player(player, generate_history(player, "2023-12", "2024-07"))
    from spark_jobs.sandbox import whoop

    oura = OuraStore()
    oura.add_generated_person("me", now.date() - timedelta(days=14), now.date())
    whoop_store = whoop.WhoopStore()
    whoop_store.add_generated_person("me", now.date() - timedelta(days=14), now.date())
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(chess))
        server.mount("oura", OuraApp(oura))
        # The README's --from reads a month of the past per request: no pauses for 100/min.
        server.mount("whoop", whoop.WhoopApp(whoop_store, rate_limit_minute=10_000))
        base = server.base_url("oura")
        whoop_base = server.base_url("whoop")
        env = {
            "CHESSCOM_API_BASE": server.base_url("chesscom"),
            "OURA_API_BASE": base,
            "OURA_AUTHORIZE_URL": f"{base}/oauth/authorize",
            "OURA_TOKEN_URL": f"{base}/oauth/token",
            "OURA_CLIENT_ID": DEFAULT_CLIENT_ID,
            "OURA_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "OURA_REDIRECT_URI": f"http://127.0.0.1:{free_port()}/callback",
            "WHOOP_API_BASE": f"{whoop_base}/developer",
            "WHOOP_OAUTH_BASE": f"{whoop_base}/oauth/oauth2",
            "WHOOP_CLIENT_ID": whoop.DEFAULT_CLIENT_ID,
            "WHOOP_CLIENT_SECRET": whoop.DEFAULT_CLIENT_SECRET,
            "WHOOP_REDIRECT_URI": f"http://127.0.0.1:{free_port()}/callback",
        }
        yield env, chess, oura, whoop_store


BROWSER = """#!/bin/sh
# The user's browser: opens the consent page (the sandbox approves it: a 302 to the
# redirect URI), follows the redirect to `lakehouse auth oura`'s (or whoop's) callback. In the
# background, as a browser is: `auth` waits on the callback once the browser started.
( curl -sS -L --max-time 60 -o "$0.page" "$1" >"$0.log" 2>&1 ) &
"""


def test_own_data_block(own_data_sandbox, tmp_path: Path) -> None:
    """cp .env.example .env, chess.com for your_username and two named players, Oura's and
    WHOOP's consent in a browser, their ingests, the transform and the status, as written."""
    env_extra, chess, oura, whoop_store = own_data_sandbox
    home = tmp_path / "lakehouse"
    browser = tmp_path / "browser"
    browser.write_text(BROWSER)
    browser.chmod(0o755)
    env = fresh_clone_env(home, BROWSER=str(browser), **env_extra)
    commands = runnable("Using it with your own data")
    with root_files(".env"):
        done = run_readme(commands, env, timeout=1800)
        copied = (ROOT / ".env").read_bytes() if (ROOT / ".env").exists() else b""
    assert done.returncode == 0, failed(done, "\n".join(c.text for c in commands))
    assert copied == (ROOT / ".env.example").read_bytes()

    # chess.com: every archive of your_username; hikaru and magnuscarlsen January-June.
    games = _scan(home, "bronze.chesscom_games")
    by_player: dict[str, set[str]] = {}
    for g in games:
        by_player.setdefault(g["player"], set()).add(g["uuid"])
    months = (recent_month(1), recent_month(0))  # the player's whole history
    expected = {g["uuid"] for m in months for g in chess.games("your_username", m)}
    assert expected and by_player["your_username"] == expected
    for player in ("hikaru", "magnuscarlsen"):
        want = {
            g["uuid"]
            for m in ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06")
            for g in chess.games(player, m)
        }
        assert want and by_player[player] == want, player
    # The User-Agent came from the copied .env (the environment has none).
    assert "CHESSCOM_USER_AGENT" not in env

    # Oura: the browser's consent gave a private token file, and the nights landed.
    token = home / "secrets" / "oura_me.json"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert "Saved the Oura token of account me" in done.stdout
    nights = {r["day"] for r in _scan(home, "bronze.oura_daily_sleep") if r["account"] == "me"}
    served = {d["day"] for d in oura.documents("me", "daily_sleep")}
    assert served and {str(d) for d in nights} == {str(d) for d in served}

    # WHOOP: the same, and every sleep (naps too) of `me` landed.
    token = home / "secrets" / "whoop_me.json"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert "Saved the WHOOP token of account me" in done.stdout
    sleeps = {r["id"] for r in _scan(home, "bronze.whoop_sleep") if r["account"] == "me"}
    assert sleeps and sleeps == {r["id"] for r in whoop_store.records("me", "sleep")}

    # The marts answer for both sources, and the status lists every account.
    assert {r["player"] for r in _scan(home, "marts.fct_chess_games")} >= {
        "your_username",
        "hikaru",
        "magnuscarlsen",
    }
    assert len(_scan(home, "marts.daily_health")) == len(nights)
    # One canonical day per wake-up day of either device, from both where they overlap.
    canonical = [r for r in _scan(home, "marts.fct_daily_health") if r["account"] == "me"]
    assert len(canonical) >= len(nights)
    assert {"oura,whoop"} <= {r["sources"] for r in canonical}
    assert {r["sleep_source"] for r in canonical} <= {"oura", "whoop", None}
    status = done.stdout[done.stdout.rindex("transform") :]
    for name in ("your_username", "hikaru", "magnuscarlsen", "me"):
        assert name in status, status


# ---------------------------------------------------------------------- Airflow
def test_airflow_block(tmp_path: Path) -> None:
    """The exports, then `make airflow` until Airflow's API says it is healthy."""
    port = free_port()
    env = fresh_clone_env(
        tmp_path / "lakehouse",
        AIRFLOW_HOME=str(tmp_path / "airflow"),  # not the checkout's .airflow/
        AIRFLOW__API__PORT=str(port),
    )
    log = tmp_path / "airflow.log"
    proc = start_readme(runnable("Scheduling (Airflow)"), env, log)
    try:
        url = f"http://localhost:{port}/api/v2/monitor/health"
        deadline = time.monotonic() + 420
        while True:
            health = json.loads(wait_until_answers(proc, url, log, timeout=420))
            states = {k: v.get("status") for k, v in health.items() if isinstance(v, dict)}
            if states.get("metadatabase") == "healthy" and states.get("scheduler") == "healthy":
                break
            assert time.monotonic() < deadline, health
            time.sleep(2)
    finally:
        interrupt_group(proc)
    text = log.read_text()
    assert "AIRFLOW_VAR_CHESSCOM_PLAYERS is not set" not in text  # the export reached it
    assert (tmp_path / "airflow" / "airflow.db").exists()  # its state: not in the checkout


# ----------------------------------------------------------------- Docker, AWS
def test_docker_block(tmp_path: Path) -> None:
    """The commands that need no Docker engine: the .env copy and the exports (checked by
    `lakehouse config`, which resolves the deployment they select)."""
    commands = runnable(DOCKER)
    env = fresh_clone_env(tmp_path / "lakehouse")
    check = Command(".venv/bin/lakehouse config", 0, DOCKER, 0)
    with root_files(".env"):
        done = run_readme([*commands, check], env, timeout=300)
        copied = (ROOT / ".env").read_bytes() if (ROOT / ".env").exists() else b""
    assert done.returncode == 0, failed(done)
    assert copied == (ROOT / ".env.example").read_bytes()
    assert "postgres" in done.stdout and "jdbc:postgresql://localhost:5432/iceberg" in done.stdout
    assert "s3://lakehouse/warehouse" in done.stdout and "http://localhost:9000" in done.stdout


def _no_aws_account(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    return fresh_clone_env(
        tmp_path / "lakehouse",
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
    )


def test_aws_block(tmp_path: Path) -> None:
    """Everything of the AWS block up to AWS itself: the exports, `make dist`, the jq job
    definition; each `aws` command as written stops only for want of credentials, after
    parsing its arguments and validating its input against botocore's Glue/S3 models."""
    env = _no_aws_account(tmp_path)
    commands = runnable(AWS)
    exports = [c for c in commands if c.text.startswith("export ")]
    assert exports, "the AWS block starts with its exports"
    with root_files("dist", "chesscom-job.json"):
        for command in commands:
            if command in exports:
                continue
            done = run_readme([*exports, command], env, timeout=600)
            if re.search(r"(^|&& )aws ", command.text):
                assert done.returncode != 0 and NO_CREDENTIALS in done.stderr, failed(done)
                assert "Parameter validation failed" not in done.stderr
                assert "You must specify a region" not in done.stderr
            else:
                assert done.returncode == 0, failed(done, command.text)
            if command.text.startswith("make dist"):
                assert (ROOT / "dist" / "spark_jobs.zip").is_file()
            if command.text.startswith("jq "):
                job = json.loads((ROOT / "chesscom-job.json").read_text())
                assert job["Name"] == "lakehouse-chesscom-ingest"
                assert job["DefaultArguments"]["--source"] == "chesscom"
                assert "@" in job["DefaultArguments"]["--CHESSCOM_USER_AGENT"]


def test_cluster_block(tmp_path: Path) -> None:
    """`make dist` for a cluster: the package zip (no sandbox) and the job script."""
    env = fresh_clone_env(tmp_path / "lakehouse")
    commands = runnable(SUBMIT, 1)
    assert [c.text for c in commands] == ["make dist"]
    with root_files("dist"):
        done = run_readme(commands, env, timeout=600)
        assert done.returncode == 0, failed(done)
        names = zipfile.ZipFile(ROOT / "dist" / "spark_jobs.zip").namelist()
        script = (ROOT / "dist" / "jobs" / "ingest.py").read_bytes()
    assert "spark_jobs/sources.py" in names and "spark_jobs/chesscom/source.py" in names
    assert not [n for n in names if n.startswith("spark_jobs/sandbox/")]
    assert script == (ROOT / "spark_jobs" / "jobs" / "ingest.py").read_bytes()


# ---------------------------------------------------------------------- sandbox
def test_sandbox_line(tmp_path: Path) -> None:
    """`lakehouse sandbox --account me --since 2026-01` serves chess.com and Oura for
    `me` and prints the exports; Ctrl-C stops it."""
    import urllib.request

    (command,) = runnable("The sandbox")
    port = free_port()
    env = fresh_clone_env(tmp_path / "lakehouse", LAKEHOUSE_SANDBOX_PORT=str(port))
    log = tmp_path / "sandbox.log"
    proc = start_readme(command, env, log)
    try:
        since = re.search(r"--since (\d{4}-\d\d)", command.text).group(1)
        account = re.search(r"--account (\S+)", command.text).group(1)
        deadline = time.monotonic() + 300
        while "OURA_ACCOUNTS" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        exports = dict(re.findall(r"^\s*export (\w+)=(\S+)$", log.read_text(), flags=re.MULTILINE))
        chess = exports["CHESSCOM_API_BASE"]
        assert chess.startswith(f"http://127.0.0.1:{port}/")
        request = urllib.request.Request(
            f"{chess}/player/{account}/games/archives",
            headers={"User-Agent": "readme-test/0.1 (tests@example.com)"},
        )
        with urllib.request.urlopen(request, timeout=30) as res:
            archives = json.loads(res.read())["archives"]
        assert archives[0].endswith("/" + since.replace("-", "/")), archives[:2]
        assert exports["OURA_ACCOUNTS"] == account
    finally:
        code = interrupt_group(proc)
    assert code in (0, -2, 130), (code, log.read_text())
