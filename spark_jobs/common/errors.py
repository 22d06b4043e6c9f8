"""The project-wide bad-input error: every command turns it into exit 2 with its message."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input or configuration; the message names the input and says what to fix."""
