"""Stage 1, ingest: dump files -> DuckDB catalog. Format detection lives in :mod:`.detect`."""

from .detect import DetectedSource, detect, detect_file

__all__ = ["DetectedSource", "detect", "detect_file"]
