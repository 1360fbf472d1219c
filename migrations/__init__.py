"""Alembic migrations for the nf schema: baseline + P0/P1/P2 revisions, backfill and runner."""
