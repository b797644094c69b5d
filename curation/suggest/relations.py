"""Make raw per-tag flags respect tag implications. Pure: dicts and lists in, lists out.

- An ``add`` of a tag the post already has (directly or through an implication) is dropped.
- An ``add`` of a child tag lists the parents it implies that the post lacks (``implies``);
  an ``add`` of such a parent on the same post is folded into the child's.
- A ``remove`` of a tag implied by another tag the post keeps is dropped (removing it alone
  would be undone by the implication); kept when that other tag is also suggested for removal.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Suggestion:
    post_id: int
    tag: str
    action: str  # add | remove
    confidence: float
    label_quality: float
    tag_ap: float = 1.0  # how well the tagger predicts this tag at all (average precision)
    implies: list[str] = field(default_factory=list)
    feedback: float = 1.0  # moderators' acceptance of this tag's suggestions so far (feedback_factor)

    @property
    def score(self) -> float:
        """The ranking key: the model's confidence in the change, discounted by how well it knows the
        tag, and raised or lowered by how moderators have received the tag's suggestions."""
        return self.confidence * self.tag_ap * self.feedback


def feedback_factor(accepted: int, rejected: int) -> float:
    """Moderators' acceptance of a tag's suggestions as a ranking factor: the smoothed acceptance
    rate ((a + 1) / (a + r + 2)) over its no-decision value 1/2: 1.0 without decisions, towards 2
    for a tag they accept, towards 0 for one they reject."""
    return 2.0 * (accepted + 1) / (accepted + rejected + 2)


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


def cap_per_post(suggestions: list[Suggestion], limit: int) -> list[Suggestion]:
    """Ranked best first (score, then lowest label quality), each post keeping its ``limit`` best."""
    seen: dict[int, int] = {}
    out = []
    for s in sorted(suggestions, key=lambda s: (-s.score, s.label_quality, s.post_id, s.tag)):
        if seen.get(s.post_id, 0) < limit:
            seen[s.post_id] = seen.get(s.post_id, 0) + 1
            out.append(s)
    return out
