"""Prefect flows over the curation library (which never imports Prefect itself)."""
