"""Missing- and wrong-tag suggestions with cleanlab, implication-aware, with moderators' decisions."""

from .relations import Suggestion, apply_implications, interleave
from .review import review
from .stage import SuggestReport, load_suggestions, run_suggest

__all__ = ["Suggestion", "SuggestReport", "apply_implications", "interleave", "load_suggestions", "review", "run_suggest"]
