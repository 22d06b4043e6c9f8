"""chess.com: the PubAPI client, the archive transforms and the ingestion job."""
