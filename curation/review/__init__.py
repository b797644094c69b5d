"""The moderators' review page (``curate review --serve``) and its queue."""

from ..decisions import acceptance_rates
from .queue import QueueFilter, ReviewData
from .server import create_app, serve

__all__ = ["QueueFilter", "ReviewData", "acceptance_rates", "create_app", "serve"]
