"""The curator's report: one static HTML page over every stage's results."""

from .build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
