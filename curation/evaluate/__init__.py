"""Scores against a synthetic board's ground truth (``OUT/truth/``), one module per stage."""

from .images import ImagesScore, evaluate_images
from .ingest import IngestScore, evaluate_ingest

__all__ = ["ImagesScore", "IngestScore", "evaluate_images", "evaluate_ingest"]
