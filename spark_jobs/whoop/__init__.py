"""WHOOP (API v2): settings, OAuth2, client, schemas, transforms, ingest."""
