"""Generators of packaged ingestion data (run once; their output is committed as data)."""
