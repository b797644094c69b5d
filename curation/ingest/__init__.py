"""Stage 1, ingest: dump files -> DuckDB catalog. Format detection lives in :mod:`.detect`."""

from .detect import DetectedSource, detect, detect_file
from .ingest import IngestReport, SourceReport, ingest

__all__ = ["DetectedSource", "IngestReport", "SourceReport", "detect", "detect_file", "ingest"]
