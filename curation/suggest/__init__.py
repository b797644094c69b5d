"""Missing- and wrong-tag suggestions with cleanlab, implication-aware, with moderators' decisions."""

from .relations import Suggestion, apply_implications, cap_per_post
from .review import review
from .stage import SuggestReport, load_suggestions, run_suggest

__all__ = ["Suggestion", "SuggestReport", "apply_implications", "cap_per_post", "load_suggestions", "review", "run_suggest"]
