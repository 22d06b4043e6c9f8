"""Oura Ring API v2: settings, OAuth2 auth, client, bronze schemas and parse transforms."""
