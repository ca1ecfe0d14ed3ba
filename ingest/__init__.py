"""Ingest pipelines: read survey and cadastral sources and build a twin from them."""
