"""Make raw per-tag flags respect tag implications. Pure: dicts and lists in, lists out.

- An ``add`` of a tag the post already has (directly or through an implication) is dropped.
- An ``add`` of a child tag lists the parents it implies that the post lacks (``implies``);
  an ``add`` of such a parent on the same post is folded into the child's.
- A ``remove`` of a tag implied by another tag the post keeps is dropped (removing it alone
  would be undone by the implication); kept when that other tag is also suggested for removal.

Then the duplicate group's word (:func:`against_group_consensus`) and the queue's order
(:func:`interleave`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Suggestion:
    post_id: int
    tag: str
    action: str  # add | remove
    probability: float  # the tagger's out-of-fold probability that the post has the tag
    label_quality: float  # cleanlab's score of the current label (low: probably wrong)
    precision: float = 0.0  # calibrated chance that the change is right (calibrate.py), feedback applied
    implies: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        """The model's belief in the change: p for an add, 1 - p for a remove."""
        return self.probability if self.action == "add" else 1.0 - self.probability


def apply_implications(
    suggestions: list[Suggestion], post_tags: dict[int, set[str]], parents: dict[str, set[str]]
) -> list[Suggestion]:
    """``post_tags``: every current tag of each post; ``parents``: tag -> all tags it implies (transitively)."""
    by_post: dict[int, list[Suggestion]] = {}
    for s in suggestions:
        by_post.setdefault(s.post_id, []).append(s)
    kept: list[Suggestion] = []
    for post, items in by_post.items():
        present = post_tags.get(post, set())
        removing = {s.tag for s in items if s.action == "remove"}
        adds = [s for s in items if s.action == "add" and s.tag not in present]
        implied_by_adds: set[str] = set()
        for s in adds:
            s.implies = sorted(parents.get(s.tag, set()) - present)
            implied_by_adds.update(s.implies)
        kept.extend(s for s in adds if s.tag not in implied_by_adds)
        for s in items:
            if s.action != "remove" or s.tag not in present:
                continue
            holders = {other for other in present if other != s.tag and s.tag in parents.get(other, set())}
            if holders <= removing:
                kept.append(s)
    return kept


def against_group_consensus(suggestion: Suggestion, mates: int, carrying: int) -> bool:
    """True for a removal that the other members of the post's duplicate group contradict: of its
    ``mates`` (the other members), at least half (``carrying``) carry the tag: the same picture,
    tagged by other people. An add is never contradicted this way: a tag can be missing from
    every copy."""
    return suggestion.action == "remove" and mates > 0 and 2 * carrying >= mates


def interleave(suggestions: list[Suggestion], per_tag: int, per_post: int, budget: int = 0) -> list[Suggestion]:
    """The queue's order: by precision estimate, in rounds, so that one tag or one post cannot
    fill the top. A suggestion's round is how many times over its tag's ``per_tag`` (or its post's
    ``per_post``) better suggestions have already filled; round 0 comes first, each round by
    precision (then lowest label quality). ``budget`` > 0 keeps the first ``budget``."""
    best_first = sorted(suggestions, key=lambda s: (-s.precision, -s.confidence, s.label_quality, s.post_id, s.tag, s.action))
    by_tag: dict[str, int] = {}
    by_post: dict[int, int] = {}
    rounds = []
    for order, s in enumerate(best_first):
        rounds.append((max(by_tag.get(s.tag, 0) // per_tag, by_post.get(s.post_id, 0) // per_post), order))
        by_tag[s.tag] = by_tag.get(s.tag, 0) + 1
        by_post[s.post_id] = by_post.get(s.post_id, 0) + 1
    ranked = [best_first[order] for _, order in sorted(rounds)]
    return ranked[:budget] if budget > 0 else ranked
