"""Pieces shared by every source: settings-driven sessions, HTTP, raw layer, state, writes."""
