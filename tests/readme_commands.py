"""README.md's shell commands, as a user copies them: its ```bash blocks, split into
logical commands, each with the heading it sits under.

A logical command is one or more lines that the shell reads as one: lines continued with
a trailing backslash, or a quoted string running over a line end, are one command; its
`text` is the README's text, unchanged (continuations and trailing comments included),
so `bash -c text` runs exactly what a user pastes. Blank lines and comment-only lines are
not commands.

    from tests.readme_commands import readme_blocks
    for block in readme_blocks():
        print(block.heading, [c.text for c in block.commands])
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_HEADING = re.compile(r"^(#{2,3}) (.+)$")
_FENCE = re.compile(r"^```(\w*)$")


@dataclass(frozen=True)
class Command:
    text: str
    """The command exactly as the README writes it (continuation lines included)."""
    line: int
    """README line number (1-based) of its first line."""
    heading: str
    """The nearest `##` or `###` heading above it, without the hashes."""
    block: int
    """Index of its block among the blocks under the same heading (0, 1, ...)."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.heading, self.block)


@dataclass(frozen=True)
class Block:
    heading: str
    index: int
    line: int
    commands: tuple[Command, ...]

    @property
    def key(self) -> tuple[str, int]:
        return (self.heading, self.index)


def _complete(text: str) -> bool:
    """Whether the shell would run `text` as is (no open quote, no trailing backslash)."""
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return True


def split_commands(lines: list[str]) -> list[tuple[int, str]]:
    """(offset of the first line, text) of each logical command of a block's lines."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for i, line in enumerate(lines):
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = i
        pending.append(line)
        text = "\n".join(pending)
        if _complete(text):
            out.append((start, text))
            pending = []
    assert not pending, f"unterminated command in a README block: {pending}"
    return out


@cache
def _parse(text: str) -> tuple[Block, ...]:
    blocks: list[Block] = []
    heading = ""
    per_heading: dict[str, int] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if m := _HEADING.match(lines[i]):
            heading = m.group(2).strip()
        elif (m := _FENCE.match(lines[i])) and m.group(1):
            end = i + 1
            while lines[end] != "```":
                end += 1
            if m.group(1) == "bash":
                index = per_heading.get(heading, 0)
                per_heading[heading] = index + 1
                commands = tuple(
                    Command(text=body, line=i + 2 + offset, heading=heading, block=index)
                    for offset, body in split_commands(lines[i + 1 : end])
                )
                blocks.append(Block(heading, index, i + 1, commands))
            i = end
        i += 1
    return tuple(blocks)


def readme_blocks(path: Path = README) -> tuple[Block, ...]:
    """Every ```bash block of the README, in order."""
    return _parse(path.read_text())


def readme_commands(path: Path = README) -> list[Command]:
    """Every logical command of the README's bash blocks, in order."""
    return [c for b in readme_blocks(path) for c in b.commands]


def readme_block(heading: str, index: int = 0, path: Path = README) -> Block:
    """The `index`-th bash block under `heading` (AssertionError when there is none)."""
    found = [b for b in readme_blocks(path) if b.key == (heading, index)]
    assert found, f"README.md has no bash block {index} under the heading {heading!r}"
    return found[0]


# ------------------------------------------------------------------ running them
# A user's shell after `make setup` in a fresh clone: the system PATH (no venv), none of
# the project's variables; a test adds only the sandbox's URLs, a LAKEHOUSE_HOME and ports.
_DROPPED_PREFIXES = (
    "LAKEHOUSE_", "CHESSCOM_", "OURA_", "WHOOP_", "PYSPARK_", "TRINO_", "SUPERSET_",
    "AIRFLOW_VAR_", "AWS_",
)  # fmt: skip
_DROPPED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SPARK_HOME", "DBT_TARGET", "BROWSER")


def fresh_clone_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who cloned the repository and ran `make setup`: PATH
    without the venv, nothing of the project, Spark or the sandbox set; then
    LAKEHOUSE_HOME=home and `extra`."""
    import os
    import sys

    venv = (ROOT / ".venv").resolve()
    bin_dir = Path(sys.executable).parent.resolve()

    def in_venv(entry: str) -> bool:
        path = Path(entry).resolve()
        return path in (venv, bin_dir) or venv in path.parents

    path = [e for e in os.environ.get("PATH", "").split(os.pathsep) if e and not in_venv(e)]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED
    }
    env.update(PATH=os.pathsep.join(path), LAKEHOUSE_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1")
    env.update(extra)
    return env


def script(commands: list[Command] | tuple[Command, ...]) -> str:
    """The commands as one shell script, each exactly as written, one after the other
    (`export` and `eval` lines carry over to the next commands, as in a terminal)."""
    return "\n".join(c.text for c in commands) + "\n"


def run_readme(commands, env: dict[str, str], timeout: float = 900):
    """Run README commands with `bash -e -c`, in the repository root (a fresh clone)."""
    import subprocess

    text = commands.text if isinstance(commands, Command) else script(commands)
    return subprocess.run(
        ["bash", "-e", "-c", text],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def failed(done, text: str = "") -> str:
    """What an assertion on a finished command shows."""
    return (
        f"rc {done.returncode}\n{text}\n--- stdout\n{done.stdout[-4000:]}\n--- stderr\n"
        + (done.stderr[-4000:])
    )


def start_readme(commands, env: dict[str, str], log: Path):
    """Start README commands (the last one long-running) in their own process group,
    output to `log`; stop with `stop_group`."""
    import subprocess

    text = commands.text if isinstance(commands, Command) else script(commands)
    out = log.open("w")
    try:
        return subprocess.Popen(
            ["bash", "-e", "-c", text],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    finally:
        out.close()


def wait_until_answers(proc, url: str, log: Path, timeout: float = 300) -> bytes:
    """Poll `url` until it answers 200 (the body), failing when `proc` ends first."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()[-6000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5) as res:
                if res.status == 200:
                    return res.read()
        except OSError:
            pass
        assert time.monotonic() < deadline, (
            f"{url} did not answer in {timeout:.0f} s\n" + (log.read_text()[-6000:])
        )
        time.sleep(1)


def interrupt_group(proc, timeout: float = 60) -> int:
    """Ctrl-C for a process group started by `start_readme` (SIGINT, then SIGTERM, then
    SIGKILL); its exit code."""
    import os
    import signal
    import subprocess

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait(timeout=timeout)


class root_files:
    """Save files or folders of the repository root that README commands write (.env,
    lakehouse.conf, dist/, ...) and put back exactly what was there afterwards."""

    def __init__(self, *names: str) -> None:
        self.paths = [ROOT / n for n in names]
        self.saved: dict[Path, Path | None] = {}

    def __enter__(self) -> root_files:
        import shutil
        import tempfile

        self.tmp = Path(tempfile.mkdtemp(prefix="readme-root-"))
        for i, path in enumerate(self.paths):
            if path.exists() or path.is_symlink():
                keep = self.tmp / str(i)
                shutil.move(path, keep)
                self.saved[path] = keep
            else:
                self.saved[path] = None
        return self

    def __exit__(self, *exc: object) -> None:
        import shutil

        for path, keep in self.saved.items():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            if keep is not None:
                shutil.move(keep, path)
        shutil.rmtree(self.tmp, ignore_errors=True)
