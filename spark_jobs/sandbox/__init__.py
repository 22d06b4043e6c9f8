"""Offline sandbox of the third-party APIs the lakehouse ingests (one app per source).

    from spark_jobs.sandbox import ChessComApp, ChessComStore, Fault, SandboxServer

    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(ChessComStore.with_generated_player(
            "sandbox_sam", "2024-01", "2024-06")))
        print(server.base_url("chesscom"))  # http://127.0.0.1:PORT/chesscom/pub

See `spark_jobs.sandbox.server` for fault injection and the request log.
"""

from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
from spark_jobs.sandbox.oura import OuraApp, OuraStore
from spark_jobs.sandbox.server import (
    FAULT_KINDS,
    Fault,
    LoggedRequest,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    SourceApp,
    run_sandbox,
)
from spark_jobs.sandbox.whoop import WhoopApp, WhoopStore

__all__ = [
    "FAULT_KINDS",
    "ChessComApp",
    "ChessComStore",
    "Fault",
    "LoggedRequest",
    "OuraApp",
    "OuraStore",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SourceApp",
    "WhoopApp",
    "WhoopStore",
    "run_sandbox",
]
