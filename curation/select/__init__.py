"""Stage 2, select: SQL filters over the catalog -> a selection, its label tags and an audit."""

from .select import AuditRow, SelectReport, post_filters, read_tag_lists, select

__all__ = ["AuditRow", "SelectReport", "post_filters", "read_tag_lists", "select"]
