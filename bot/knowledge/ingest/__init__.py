"""Ingest: from a notice as published to a knowledge draft staff can review."""
