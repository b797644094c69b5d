"""Scores against a synthetic board's ground truth (``OUT/truth/``), one module per stage."""

from .dedupe import KindScore, evaluate_dedupe
from .images import ImagesScore, evaluate_images
from .ingest import IngestScore, evaluate_ingest

__all__ = ["ImagesScore", "KindScore", "evaluate_dedupe", "IngestScore", "evaluate_images", "evaluate_ingest"]
