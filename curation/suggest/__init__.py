"""Missing- and wrong-tag suggestions with cleanlab, implication-aware, with moderators' decisions."""

from .relations import Suggestion, apply_implications, cap_per_post
from .stage import SuggestReport, load_suggestions, review, run_suggest

__all__ = ["Suggestion", "SuggestReport", "apply_implications", "cap_per_post", "load_suggestions", "review", "run_suggest"]
