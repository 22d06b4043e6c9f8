"""Lakehouse writer locks: one writer per scope at a time, whatever process it runs in.

    with hold_locks(settings.home, ingest_locks("chesscom", ["hikaru"]), wait=True):
        ...  # ingest hikaru: no other process ingests hikaru or rebuilds chesscom now

A lock is `fcntl.flock` on a file `$LAKEHOUSE_HOME/locks/<scope>.lock`, so the kernel drops
it when its process ends in any way (exit, crash, kill -9): a lock is never left stale.
The holder writes its pid, command line and start time into the file, so a second writer
can say who is in the way: it either waits (`wait=True`, polling until `timeout`, with a
progress line at once and then every 30 s) or raises :class:`LockHeld` at once; the CLI
turns that into exit 75 (EX_TEMPFAIL) and the advice to rerun with --wait.

Scopes:

- `<source>/<account>` (exclusive): one ingest of an account at a time; ingests of other
  accounts of the same source run alongside (they MERGE disjoint rows);
- `<source>` (shared by ingests, exclusive for a rebuild): every ingest of the source
  holds it shared, `lakehouse rebuild <source>` exclusively, so a rebuild (which rewrites
  the source's whole bronze) waits for, and excludes, every ingest of that source, while
  ingests of different accounts still share it;
- `transform`: dbt build + publish of the marts.

Locks are taken in one order (the source first, then its accounts sorted; transform alone),
so two waiting runs cannot deadlock. They belong to the process: taking a scope the
process already holds is a no-op (re-entrant), which lets the CLI lock before Spark starts
and the library (`run_ingest`, `run_transform`) lock again for its other callers; threads
of one process share its locks (take them from one thread). The descriptor is not
inherited by child programs (spark-submit's JVM, dbt).

Only this machine is covered: on S3 with a PostgreSQL, REST or Glue catalog the lock file
still lives under the local LAKEHOUSE_HOME, so runs on other machines are not excluded.
Across machines Iceberg's optimistic commits still hold: a commit that raced another is
retried on the new metadata or fails, never half-applied; the lock only spares the work.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

EXIT_LOCKED = 75
"""Exit code of every entrypoint (CLI, jobs, `python -m spark_jobs.transform`) that met a
held lock without --wait: EX_TEMPFAIL, distinct from a failed run (1) and bad input (2)."""
DEFAULT_WAIT_TIMEOUT = 3600.0
"""Seconds `--wait` waits for a lock by default."""
PROGRESS_EVERY = 30.0
"""Seconds between two "waiting for the lakehouse lock ..." lines."""
POLL_EVERY = 0.25
"""Seconds between two attempts while waiting (flock itself cannot time out)."""

_SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY")


@dataclass(frozen=True)
class LockScope:
    """One lock: its scope name and whether it is taken shared (many holders) or not."""

    name: str
    shared: bool = False

    @property
    def file_name(self) -> str:
        # Scope names are source and account names (letters, digits, '_', '-'): safe.
        return self.name.replace("/", "+") + ".lock"


TRANSFORM = LockScope("transform")


def source_lock(source: str, *, shared: bool) -> LockScope:
    """A source's lock: shared by its ingests, exclusive for its rebuild."""
    return LockScope(source, shared=shared)


def account_lock(source: str, account: str) -> LockScope:
    """One account's ingest lock (exclusive)."""
    return LockScope(f"{source}/{account}")


def ingest_locks(source: str, accounts: Sequence[str]) -> list[LockScope]:
    """The locks of one ingest run: the source shared, then each account (sorted)."""
    return [source_lock(source, shared=True)] + [
        account_lock(source, a) for a in sorted(set(accounts))
    ]


def rebuild_locks(source: str) -> list[LockScope]:
    """The lock of `lakehouse rebuild <source>`: the source exclusively (no ingest of it)."""
    return [source_lock(source, shared=False)]


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its holder wrote it into the lock file."""

    pid: int
    command: str
    since: str  # UTC, ISO 8601 with a Z
    host: str = ""

    def describe(self) -> str:
        return f"pid {self.pid}, `{self.command}`, since {self.since}"


class LockHeld(Exception):
    """Another run holds a lakehouse lock (the CLI exits 75 with this message)."""

    def __init__(self, scope: str, holder: Holder | None, waited: float | None = None) -> None:
        self.scope = scope
        self.holder = holder
        self.waited = waited
        who = f"another run ({holder.describe()})" if holder else "another run"
        if waited is None:
            message = f"{who} holds the lakehouse lock {scope}; rerun with --wait"
        else:
            message = (
                f"{who} still holds the lakehouse lock {scope} after waiting {waited:.0f} s; "
                "rerun later, or with a longer --wait-timeout"
            )
        super().__init__(message)


def _command_line() -> str:
    """This process's command line for the lock file, with secret-looking values hidden."""
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"]
    hide = False
    for arg in sys.argv[1:]:
        if hide:
            argv.append("***")
            hide = False
            continue
        name, eq, _ = arg.partition("=")
        secret = arg.startswith("--") and any(w in name.upper() for w in _SECRET_WORDS)
        if secret and eq:
            argv.append(f"{name}=***")
        else:
            argv.append(arg)
            hide = secret
    return shlex.join(argv)


def _read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text())
        pid, command, since = int(data["pid"]), str(data["command"]), str(data["since"])
        return Holder(pid, command, since, str(data.get("host", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # free, or the holder has not written itself in yet


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (another user's counts; a
    zombie, exited but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is all there is
    return state != "Z"


def _find_holder(folder: Path, scope: LockScope) -> Holder | None:
    """Who is in the way of `scope`: its file's holder, or for a source (held shared by its
    ingests, which do not write it) the live holder of one of its account locks."""
    holder = _read_holder(folder / scope.file_name)
    if holder and pid_alive(holder.pid):
        return holder
    for path in sorted(folder.glob(scope.name.replace("/", "+") + "+*.lock")):
        holder = _read_holder(path)
        if holder and pid_alive(holder.pid) and holder.pid != os.getpid():
            return holder
    return None


@dataclass
class _Held:
    fd: int
    shared: bool
    depth: int


_registry: dict[Path, _Held] = {}
_registry_lock = threading.RLock()


def _try_lock(fd: int, shared: bool) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def _write_holder(fd: int, scope: LockScope) -> None:
    since = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    record = {
        "pid": os.getpid(),
        "command": _command_line(),
        "since": since,
        "host": socket.gethostname(),
        "scope": scope.name,
    }
    data = (json.dumps(record) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


@contextmanager
def _hold_one(
    folder: Path,
    scope: LockScope,
    deadline: float | None,
    started: float,
    progress: Callable[[str], None] | None,
) -> Iterator[None]:
    path = folder / scope.file_name
    with _registry_lock:
        held = _registry.get(path)
        if held is not None:
            if held.shared and not scope.shared:
                raise RuntimeError(f"lakehouse lock {scope.name}: held shared, wanted exclusive")
            held.depth += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield
        finally:
            with _registry_lock:
                held.depth -= 1
        return
    folder.mkdir(parents=True, exist_ok=True)
    # os.open descriptors are not inheritable: spark-submit's JVM or dbt never hold the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        next_report = time.monotonic()  # say at once why nothing happens, then every 30 s
        while not _try_lock(fd, scope.shared):
            now = time.monotonic()
            if deadline is None:
                raise LockHeld(scope.name, _find_holder(folder, scope))
            if now >= deadline:
                raise LockHeld(scope.name, _find_holder(folder, scope), waited=now - started)
            if progress and now >= next_report:
                holder = _find_holder(folder, scope)
                by = f" held by {holder.describe()}" if holder else ""
                progress(
                    f"waiting for the lakehouse lock {scope.name}{by} "
                    f"({now - started:.0f} s of at most {deadline - started:.0f} s)"
                )
                next_report = now + PROGRESS_EVERY
            time.sleep(POLL_EVERY)
        if not scope.shared:
            _write_holder(fd, scope)
        with _registry_lock:
            _registry[path] = _Held(fd, scope.shared, 1)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        with _registry_lock:
            held = _registry[path]
            held.depth -= 1
            last = held.depth == 0
            if last:
                del _registry[path]
        if last:
            if not scope.shared:
                os.ftruncate(fd, 0)  # free again: no stale holder for the next reader
            os.close(fd)  # closing the last descriptor releases the flock


@contextmanager
def hold_locks(
    home: Path,
    scopes: Sequence[LockScope],
    *,
    wait: bool = False,
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold every lock of `scopes` (in the given order) for the `with` block.

    Args:
        home: LAKEHOUSE_HOME; the lock files are in its `locks/` folder.
        wait: wait for a held lock (up to `timeout` seconds in all) instead of failing.
        progress: told every 30 s while waiting (who holds the lock, for how long).

    Raises:
        LockHeld: a lock is held by another process (at once, or after `timeout`).
    """
    folder = Path(home).resolve() / "locks"  # one registry key per file, however named
    started = time.monotonic()
    deadline = started + timeout if wait else None
    with ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(_hold_one(folder, scope, deadline, started, progress))
        yield


def held_scopes() -> list[str]:
    """File names of the locks this process holds (for tests and debugging)."""
    with _registry_lock:
        return sorted(p.name for p in _registry)
