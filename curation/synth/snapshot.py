"""An earlier dump of the same board, for measuring scheduled rebuilds.

The board as generated is the *newer* snapshot. The earlier one, written to
``OUT/earlier/`` in the same format (images are shared: ``OUT/original/``), is the board as it
stood a day before:

- the newest 1% of posts are not in it yet (at the board's 10% duplicate rate some of them are
  reposts of older posts: new duplicates of old pictures);
- 0.2% of posts were deleted since: live in it, deleted now;
- 0.5% of posts had their tags edited since: in it, one of today's tags is missing (added since)
  or one more general tag is there (removed since), alternately;
- the newest active alias and the newest active implication did not exist yet.

The changes are listed in ``OUT/earlier/changes.json``.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np

from ..errors import SynthError
from .posts import Post
from .vocab import Vocabulary
from .writers import write_metadata

NEW_POSTS, DELETED_SINCE, EDITED_SINCE = 0.01, 0.002, 0.005


def earlier_snapshot(board: list[Post], vocab: Vocabulary, seed: int) -> tuple[list[Post], dict]:
    """(the earlier snapshot's posts, what changed since) for ``board`` (id order)."""
    rng = np.random.default_rng([seed, 40])
    n = len(board)
    kept = n - max(1, round(n * NEW_POSTS)) if n > 1 else n
    posts = [copy.copy(p) for p in board[:kept]]
    deleted_now = [i for i, p in enumerate(posts) if p.is_deleted]
    revived = rng.choice(deleted_now, size=min(len(deleted_now), max(1, round(n * DELETED_SINCE))), replace=False)
    for i in revived.tolist():
        posts[i].is_deleted = False
    live = [i for i, p in enumerate(posts) if not p.is_deleted and len(p.dump_tags) > 1]
    edited = rng.choice(live, size=min(len(live), max(1, round(n * EDITED_SINCE))), replace=False)
    general = sorted(t for t, spec in vocab.tags.items() if spec.category == "general")
    edits = []
    for k, i in enumerate(edited.tolist()):
        post = posts[i]
        tags = list(post.dump_tags)
        if k % 2 == 0:
            tag = tags.pop(int(rng.integers(len(tags))))
            edits.append({"post_id": post.post_id, "added_since": tag})
        else:
            tag = next(t for t in (general[int(j)] for j in rng.permutation(len(general))) if t not in tags)
            tags.append(tag)
            edits.append({"post_id": post.post_id, "removed_since": tag})
        post.dump_tags = tags
    newest_alias = max(i for i, a in enumerate(vocab.aliases) if a[2] == "active")
    newest_implication = max(i for i, a in enumerate(vocab.implications) if a[2] == "active")
    changes = {
        "posts_earlier": len(posts),
        "posts_now": n,
        "new_posts": [p.post_id for p in board[kept:]],
        "new_duplicates_of_old_posts": [
            p.post_id for p in board[kept:] if p.dup_of is not None and p.dup_of <= board[kept - 1].post_id
        ],
        "deleted_since": sorted(posts[i].post_id for i in revived.tolist()),
        "tag_edits": edits,
        "new_alias": list(vocab.aliases[newest_alias][:2]),
        "new_implication": list(vocab.implications[newest_implication][:2]),
    }
    return posts, changes


def write_earlier_snapshot(out: Path, fmt: str, board: list[Post], vocab: Vocabulary, seed: int, snapshot) -> dict:
    """Write ``OUT/earlier/`` (metadata in ``fmt`` and changes.json); returns the changes."""
    if fmt != "danbooru2021":
        raise SynthError(f"--earlier writes danbooru2021 dumps only, not {fmt}")
    posts, changes = earlier_snapshot(board, vocab, seed)
    target = Path(out) / "earlier"
    target.mkdir(parents=True, exist_ok=True)
    write_metadata(fmt, target, posts, vocab, seed, snapshot)
    for name, (antecedent, consequent) in (
        ("tag_aliases.csv", changes["new_alias"]),
        ("tag_implications.csv", changes["new_implication"]),
    ):  # the newest relation of each kind was not there yet
        path = target / "metadata" / name
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if next(csv.reader([line]))[1:3] != [antecedent, consequent]]
        if len(kept) != len(lines) - 1:
            raise SynthError(f"{path}: expected one row {antecedent} -> {consequent}, found {len(lines) - len(kept)}")
        path.write_text("".join(kept), encoding="utf-8")
    (target / "changes.json").write_text(json.dumps(changes, indent=1) + "\n")
    return changes
