"""Small file helpers shared by every job: atomic writes with explicit permissions."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path | str, text: str, mode: int = 0o600) -> Path:
    """Write `text` to `path` atomically (temp file + rename) with permission bits `mode`.

    Readers see the old file or the new one, never a half-written one. The default mode is
    owner-only, right for tokens and passwords; pass 0o644 for shareable config.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # before any byte is written: a secret is never world-readable
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
