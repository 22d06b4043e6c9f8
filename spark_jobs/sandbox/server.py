"""Offline sandbox of third-party HTTP APIs, with fault injection and a request log.

Source apps (one per registered source with a sandbox) are mounted under a path prefix, so one local
server on 127.0.0.1 speaks every contract the pipeline needs and the real clients can be tested
end to end without a network:

    from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
    from spark_jobs.sandbox.server import Fault, SandboxServer

    store = ChessComStore.with_generated_player("sandbox_sam", "2024-01", "2024-06")
    with SandboxServer() as server:                      # port=0: a free port
        server.mount("chesscom", ChessComApp(store))
        base = server.base_url("chesscom")               # http://127.0.0.1:PORT/chesscom/pub
        server.faults.add(Fault(source="chesscom", path=r"/games/2024/03$", kind="429", times=2))
        ...                                              # point the client at `base`
        assert server.request_log.count(status=429) == 2

Control endpoints (for other processes, e.g. a pipeline run under test):

    POST   /_sandbox/faults     JSON body of a Fault (or a list of them)
    GET    /_sandbox/faults     the active faults
    DELETE /_sandbox/faults     remove all faults
    GET    /_sandbox/requests   {"count": n, "requests": [...]} (the request log)
    DELETE /_sandbox/requests   reset the log
    GET    /_sandbox            mounted sources and their base URLs

In a terminal, `run_sandbox()` serves until Ctrl-C (the CLI wraps it).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultSet",
    "LoggedRequest",
    "RequestLog",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SourceApp",
    "run_sandbox",
]

log = logging.getLogger(__name__)

FAULT_KINDS = ("404", "429", "500", "502", "503", "malformed", "truncated", "delay", "reset")
"""Every fault kind `Fault.kind` accepts."""

_CONTROL_PREFIX = "/_sandbox"
# Request headers the log keeps; Authorization is recorded as presence (scheme only), not value.
_LOGGED_HEADERS = ("user-agent", "if-none-match", "if-modified-since")
_NO_BODY_STATUSES = frozenset({204, 304})


# ---------------------------------------------------------------------------------------------
# Request / response / app contract
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxRequest:
    """One HTTP request as a source app sees it.

    Attributes:
        method: Upper-case HTTP method ("GET", "HEAD", "POST", ...).
        path: Percent-decoded path relative to the mount, always starting with "/"
            (`/chesscom/pub/player/x` arrives at the chess.com app as `/pub/player/x`).
        query: Query parameters; the last value wins for repeated keys.
        headers: Request headers with lower-case names.
        body: Raw request body.
        mount_url: Absolute URL of the mount as the client addressed it (from the Host header),
            e.g. `http://127.0.0.1:8765/chesscom`; apps build self-referencing URLs from it.
        query_string: The raw query string, for apps that need repeated keys or exact bytes.
    """

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    mount_url: str = ""
    query_string: str = ""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON (raises `orjson.JSONDecodeError` if it is not)."""
        return orjson.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body parsed as `application/x-www-form-urlencoded` (OAuth token requests)."""
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: values[-1] for key, values in parsed.items()}


@dataclass
class SandboxResponse:
    """What a source app answers; the server adds Content-Length, Date and Server."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def from_json(
        cls, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> SandboxResponse:
        """A compact JSON response (orjson) with a UTF-8 JSON content type."""
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status=status, headers=merged, body=orjson.dumps(payload))


@runtime_checkable
class SourceApp(Protocol):
    """A third-party API contract served under `/<mount>/...`.

    Implementations may define a `base_path` class attribute (chess.com: "/pub"); the server
    appends it in `SandboxServer.base_url` so clients get the same base URL shape as in
    production. `handle` is called from many threads at once and must be thread-safe.
    """

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (path relative to the mount)."""
        ...


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Fault:
    """A failure to inject into matching requests.

    Attributes:
        source: Mount name the fault applies to ("chesscom"), or "*" for every source.
        kind: One of `FAULT_KINDS`: "404", "429" (with Retry-After), "500", "502", "503",
            "malformed" (200 with an HTML body), "truncated" (200 with JSON cut in the middle and
            a matching Content-Length), "delay" (sleep `delay`, then serve normally) or "reset"
            (close the connection without any response).
        path: Regular expression searched (`re.search`) in the path relative to the mount;
            "" matches everything.
        times: Apply to the next N matching requests, then serve normally; None = forever.
        retry_after: Seconds sent in Retry-After for "429" and "503" (fractions are sent as a
            decimal, which only sandbox-aware clients should rely on).
        delay: Seconds to sleep before answering; applies to every kind, and is the whole
            point of "delay".
        method: Only match this HTTP method (None = any).
    """

    source: str
    kind: str
    path: str = ""
    times: int | None = None
    retry_after: float = 1.0
    delay: float = 0.0
    method: str | None = None

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None (forever)")
        if self.retry_after < 0 or self.delay < 0:
            raise ValueError("retry_after and delay must be >= 0")
        if self.method is not None:
            self.method = self.method.upper()
        self._pattern = re.compile(self.path)

    def matches(self, source: str, method: str, path: str) -> bool:
        """Whether this fault applies to a request (ignores the remaining count)."""
        return (
            (self.source in ("*", source))
            and (self.method is None or self.method == method)
            and self._pattern.search(path) is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """The fault as JSON-ready data (the shape `POST /_sandbox/faults` accepts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from JSON data, rejecting unknown keys.

        Raises:
            ValueError: Unknown keys, missing `source`/`kind` or invalid values.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:  # missing required keys
            raise ValueError(str(exc)) from exc


class FaultSet:
    """The active faults of a server; thread-safe. The first matching fault wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[list[Any]] = []  # [fault, remaining or None]

    def add(self, fault: Fault) -> Fault:
        """Activate `fault` (after the ones already active) and return it."""
        with self._lock:
            if fault.times != 0:
                self._faults.append([fault, fault.times])
        return fault

    def clear(self) -> int:
        """Remove every fault; returns how many were active."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
        return count

    def active(self) -> list[dict[str, Any]]:
        """The active faults as dicts, each with its `remaining` count (None = forever)."""
        with self._lock:
            return [{**fault.to_dict(), "remaining": left} for fault, left in self._faults]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def take(self, source: str, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching the request, if any."""
        with self._lock:
            for entry in self._faults:
                fault, remaining = entry
                if fault.matches(source, method, path):
                    if remaining is not None:
                        entry[1] = remaining - 1
                        if entry[1] <= 0:
                            self._faults.remove(entry)
                    return fault
        return None


# ---------------------------------------------------------------------------------------------
# Request log
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedRequest:
    """One request the sandbox received (control endpoints are not logged).

    Attributes:
        source: Mount name, or None when no source is mounted at the path.
        method: HTTP method.
        path: Path relative to the mount.
        query: Query parameters.
        status: Status sent; 0 when the connection was reset without a response.
        headers: The request's User-Agent, If-None-Match and If-Modified-Since (those present)
            plus Authorization reduced to its scheme ("Bearer <redacted>").
        response_bytes: Body bytes actually sent.
        fault: Kind of the injected fault, or None.
        at: Wall-clock time (epoch seconds) the request arrived; tests use it for backoff.
        connection: Number of the TCP connection it came on (1, 2, ...): equal numbers mean
            the client reused a keep-alive connection.
    """

    source: str | None
    method: str
    path: str
    query: dict[str, str]
    status: int
    headers: dict[str, str]
    response_bytes: int
    fault: str | None
    at: float
    connection: int = 0

    @property
    def user_agent(self) -> str | None:
        """The request's User-Agent, if it sent one."""
        return self.headers.get("User-Agent")

    @property
    def conditional(self) -> bool:
        """Whether the request carried If-None-Match or If-Modified-Since."""
        return "If-None-Match" in self.headers or "If-Modified-Since" in self.headers

    @property
    def has_authorization(self) -> bool:
        """Whether the request carried an Authorization header."""
        return "Authorization" in self.headers

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the items of `GET /_sandbox/requests`)."""
        return asdict(self)


class RequestLog:
    """Thread-safe, append-only (until cleared) list of `LoggedRequest`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []

    def append(self, item: LoggedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._items.append(item)

    def clear(self) -> int:
        """Forget every request; returns how many there were."""
        with self._lock:
            count = len(self._items)
            self._items.clear()
        return count

    def items(self) -> list[LoggedRequest]:
        """A snapshot copy of the log, oldest first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def count(
        self,
        source: str | None = None,
        path: str | None = None,
        status: int | None = None,
        method: str | None = None,
    ) -> int:
        """How many logged requests match all given filters.

        Args:
            source: Mount name.
            path: Regular expression searched in the path.
            status: Exact status (304 for revalidations, 0 for resets).
            method: HTTP method.
        """
        pattern = re.compile(path) if path is not None else None
        return sum(
            1
            for item in self.items()
            if (source is None or item.source == source)
            and (status is None or item.status == status)
            and (method is None or item.method == method.upper())
            and (pattern is None or pattern.search(item.path))
        )

    def total_bytes(self, source: str | None = None) -> int:
        """Body bytes sent, optionally for one source."""
        return sum(i.response_bytes for i in self.items() if source is None or i.source == source)


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------


def _fault_response(fault: Fault) -> SandboxResponse:
    """The canned response of a status-code fault."""
    status = int(fault.kind)
    reasons = {
        # chess.com answers 404 for an archive it cannot serve (e.g. a purged month).
        404: "Data provider not found for key.",
        429: "Too many requests. Please slow down.",
        500: "Internal server error.",
        502: "Bad gateway.",
        503: "Service temporarily unavailable.",
    }
    headers: dict[str, str] = {}
    if status in (429, 503):
        seconds = fault.retry_after
        headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    payload = {"code": 0, "message": reasons[status], "sandbox_fault": fault.kind}
    return SandboxResponse.from_json(payload, status=status, headers=headers)


_MALFORMED_BODY = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center>"
    b"</body></html>\n"
)


def _truncate(response: SandboxResponse) -> SandboxResponse:
    """The same response with its body cut in the middle (Content-Length follows the cut).

    Validators (ETag, Last-Modified) are kept, as a broken proxy would: a client must not cache
    them before it has parsed the body.
    """
    body = response.body
    cut = body[: max(1, len(body) // 2)] if len(body) > 1 else b"{"
    return SandboxResponse(status=response.status, headers=dict(response.headers), body=cut)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Set after construction; the handler reaches the sandbox through the server object.
    sandbox: SandboxServer

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.connection_ids = itertools.count(1)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down idle keep-alive connections so their handler threads end promptly."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (resets, timeouts in tests) are normal here; stay quiet about them.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        if self.sandbox.verbose:
            super().handle_error(request, client_address)
        else:
            log.debug("sandbox connection error", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a requests.Session reuses its connection
    server_version = "LakehouseSandbox/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are dropped after this many seconds
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # A per-connection number, logged with every request so tests can see keep-alive reuse.
        self.connection_id = next(self.server.connection_ids)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.verbose:
            super().log_message(format, *args)

    # -- request handling --------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        arrived = time.time()
        split = urlsplit(self.path)
        path = unquote(split.path) or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        body = self._read_body()
        method = self.command.upper()

        if path == _CONTROL_PREFIX or path.startswith(_CONTROL_PREFIX + "/"):
            self._send(sandbox._control(method, path[len(_CONTROL_PREFIX) :], body))
            return

        source, _, rest = path.lstrip("/").partition("/")
        rel_path = "/" + rest
        app = sandbox.apps.get(source)

        def record(status: int, sent: int, fault: str | None) -> None:
            # Logged before the response is written, so a client that has its answer always
            # finds the request in the log.
            sandbox.request_log.append(
                LoggedRequest(
                    source=source if app is not None else None,
                    method=method,
                    path=rel_path if app is not None else path,
                    query=query,
                    status=status,
                    headers=self._logged_headers(),
                    response_bytes=sent,
                    fault=fault,
                    at=arrived,
                    connection=self.connection_id,
                )
            )

        if app is None:
            response = SandboxResponse.from_json(
                {"code": 0, "message": f"No sandbox source is mounted at /{source}."}, 404
            )
            record(response.status, self._body_size(response), None)
            self._send(response)
            return

        fault = sandbox.faults.take(source, method, rel_path)
        if fault is not None and fault.delay > 0:
            time.sleep(fault.delay)
        kind = fault.kind if fault is not None else None

        if fault is not None and kind == "reset":
            record(0, 0, kind)
            self._reset()
            return
        if fault is not None and kind in ("404", "429", "500", "502", "503"):
            response = _fault_response(fault)
        elif kind == "malformed":
            response = SandboxResponse(
                200, {"Content-Type": "text/html; charset=utf-8"}, _MALFORMED_BODY
            )
        else:
            host = self.headers.get("Host") or f"{sandbox.host_for_urls}:{sandbox.port}"
            request = SandboxRequest(
                method=method,
                path=rel_path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                mount_url=f"http://{host}/{source}",
                query_string=split.query,
            )
            try:
                response = app.handle(request)
            except Exception:
                log.exception("sandbox app %r failed on %s %s", source, method, rel_path)
                response = SandboxResponse.from_json(
                    {"code": 0, "message": "Sandbox app error (see the server log)."}, 500
                )
            if kind == "truncated":
                response = _truncate(response)

        record(response.status, self._body_size(response), kind)
        self._send(response)

    def _logged_headers(self) -> dict[str, str]:
        subset = {}
        for name in _LOGGED_HEADERS:
            value = self.headers.get(name)
            if value is not None:
                subset["-".join(part.capitalize() for part in name.split("-"))] = value
        auth = self.headers.get("Authorization")
        if auth is not None:
            scheme = auth.split(" ", 1)[0] if " " in auth else ""
            subset["Authorization"] = f"{scheme} <redacted>".strip()
        return subset

    def _body_size(self, response: SandboxResponse) -> int:
        """Body bytes `_send` will write for `response`."""
        if self.command == "HEAD" or response.status in _NO_BODY_STATUSES:
            return 0
        return len(response.body)

    def _send(self, response: SandboxResponse) -> None:
        """Write a full response (always with Content-Length, so keep-alive works)."""
        body = b"" if response.status in _NO_BODY_STATUSES else response.body
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _reset(self) -> None:
        # SO_LINGER(on, 0) + close makes the kernel send RST: "connection reset by peer".
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class SandboxServer:
    """A threaded local HTTP server hosting source apps, with fault injection and a request log.

    The socket is bound in the constructor, so `port`, `url` and `base_url()` are valid before
    `start()`. Use it as a context manager, or call `start()` / `stop()`.

    Args:
        host: Interface to bind; keep the default for tests.
        port: TCP port; 0 picks a free one.
        verbose: Log every request to stderr (http.server style).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self.verbose = verbose
        self.apps: dict[str, SourceApp] = {}
        self.faults = FaultSet()
        self.request_log = RequestLog()
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self._host = host

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def host_for_urls(self) -> str:
        """Host to put in URLs: wildcard binds are reached through the loopback address."""
        return "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host

    @property
    def url(self) -> str:
        """Root URL, e.g. `http://127.0.0.1:8765`."""
        return f"http://{self.host_for_urls}:{self.port}"

    def base_url(self, source: str) -> str:
        """A mounted source's client base URL, e.g. `http://127.0.0.1:PORT/chesscom/pub`.

        Raises:
            KeyError: Nothing is mounted under `source`.
        """
        app = self.apps[source]
        return f"{self.url}/{source}{getattr(app, 'base_path', '')}"

    # -- apps, log -----------------------------------------------------------------------------

    def mount(self, source: str, app: SourceApp) -> SourceApp:
        """Serve `app` under `/<source>/...` (replacing any app mounted there); returns it.

        Raises:
            ValueError: `source` is empty, contains "/" or is reserved ("_sandbox").
        """
        if not source or "/" in source or source == _CONTROL_PREFIX.lstrip("/"):
            raise ValueError(f"invalid mount name {source!r}")
        if not isinstance(app, SourceApp):
            raise TypeError(f"{app!r} has no handle(request) method")
        self.apps[source] = app
        return app

    @property
    def requests(self) -> list[LoggedRequest]:
        """Snapshot of the request log, oldest first."""
        return self.request_log.items()

    def clear_requests(self) -> int:
        """Reset the request log; returns how many requests it held."""
        return self.request_log.clear()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        """Serve in a background daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` (from another thread) or Ctrl-C."""
        self._httpd.serve_forever(poll_interval=0.2)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- control endpoints ---------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> SandboxResponse:
        path = path.rstrip("/")
        if path == "" and method in ("GET", "HEAD"):
            return SandboxResponse.from_json(
                {
                    "sources": {name: self.base_url(name) for name in self.apps},
                    "faults": self.faults.active(),
                    "requests": len(self.request_log),
                }
            )
        if path == "/faults":
            if method in ("GET", "HEAD"):
                return SandboxResponse.from_json({"faults": self.faults.active()})
            if method == "DELETE":
                return SandboxResponse.from_json({"cleared": self.faults.clear()})
            if method == "POST":
                try:
                    data = orjson.loads(body)
                    items = data if isinstance(data, list) else [data]
                    if not all(isinstance(item, dict) for item in items):
                        raise ValueError("expected a JSON object or a list of objects")
                    added = [Fault.from_dict(item) for item in items]
                except (ValueError, re.error) as exc:
                    return SandboxResponse.from_json({"error": str(exc)}, 400)
                for fault in added:
                    self.faults.add(fault)
                return SandboxResponse.from_json({"added": [f.to_dict() for f in added]}, 201)
        elif path == "/requests":
            if method in ("GET", "HEAD"):
                items = [item.to_dict() for item in self.request_log.items()]
                return SandboxResponse.from_json({"count": len(items), "requests": items})
            if method == "DELETE":
                return SandboxResponse.from_json({"cleared": self.request_log.clear()})
        else:
            return SandboxResponse.from_json({"error": f"unknown control path {path!r}"}, 404)
        return SandboxResponse.from_json({"error": f"{method} not allowed on {path}"}, 405)


def mount_sources(
    server: SandboxServer, accounts: list[str], since: str, now: datetime
) -> dict[str, str]:
    """Mount every registered source that has a sandbox app, with generated data for
    `accounts` from `since` (YYYY-MM) to `now`; returns the environment pointing at them."""
    import importlib

    from spark_jobs.sources import all_sources

    env: dict[str, str] = {}
    for src in all_sources():
        if src.sandbox_module:
            module = importlib.import_module(src.sandbox_module)
            env.update(module.mount_demo(server, accounts, since, now))
    return env


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    accounts: list[str],
    since: str,
    verbose: bool = False,
) -> None:
    """Serve the sandbox in the foreground until Ctrl-C, printing how to point at it.

    Args:
        host: Interface to bind.
        port: TCP port (0 = any free port).
        accounts: Fictional players / persons every source generates data for.
        since: First month (YYYY-MM) of the generated data; it runs to today.
        verbose: Log every request to stderr.
    """
    import shlex
    import signal

    def _terminate(*_: object) -> None:
        # SIGTERM (a supervisor, `kill`) ends it like Ctrl-C: the apps' temporary files go
        # too (atexit); a second SIGTERM must not interrupt that clean-up.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(0)

    signal.signal(signal.SIGTERM, _terminate)
    server = SandboxServer(host, port, verbose=verbose)
    env = mount_sources(server, accounts, since, datetime.now(UTC))
    print(f"Sandbox listening on {server.url}", flush=True)
    for name in server.apps:
        print(f"  {name}: {server.base_url(name)}", flush=True)
    print(f"  accounts: {', '.join(accounts)} (data from {since} to today)", flush=True)
    print(f"  control: {server.url}{_CONTROL_PREFIX}  (Ctrl-C to stop)", flush=True)
    print("point the pipeline at it:", flush=True)
    for key, value in env.items():
        print(f"  export {key}={shlex.quote(value)}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
