"""Scores against a synthetic board's ground truth (``OUT/truth/``), one module per stage."""

from .ingest import IngestScore, evaluate_ingest

__all__ = ["IngestScore", "evaluate_ingest"]
