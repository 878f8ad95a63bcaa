"""Dash-camera plate reads: validation, idempotent ingest, storage."""
