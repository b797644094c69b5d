"""The moderators' review page (``curate review --serve``) and its queue."""

from .queue import QueueFilter, ReviewData, acceptance_rates
from .server import create_app, serve

__all__ = ["QueueFilter", "ReviewData", "acceptance_rates", "create_app", "serve"]
