"""What the review page shows: the suggestion queue with each card's evidence, read once from
the catalog (again when the catalog changes) and combined with the decisions journal.

Arrays and frames, not rows: a 100k-suggestion workspace is a polars frame filtered per
request in milliseconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .. import decisions as journal
from ..catalog import CATALOG_NAME, open_catalog
from ..errors import StageNotRun

STATES = ("open", "accepted", "rejected", "all")
NEIGHBOURS = 5  # nearest labelled posts shown on a card
MAX_INDEXED = 300_000  # beyond this many selected posts the page shows no neighbours (a flat index's memory)


@dataclass(frozen=True)
class QueueFilter:
    action: str = ""  # add | remove | "" (both)
    tag: str = ""
    category: str = ""
    min_score: float = 0.0  # precision estimate (or confidence, before suggest had estimates)
    state: str = "open"  # open | accepted | rejected | all


class ReviewData:
    """The workspace's suggestions and their evidence, kept in memory; re-read when the catalog file changes."""

    def __init__(self, workspace: Path | str) -> None:
        self.workspace = Path(workspace)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self.load()

    def _catalog_stamp(self) -> tuple:
        st = (self.workspace / CATALOG_NAME).stat()
        return st.st_mtime_ns, st.st_size

    def load(self) -> None:
        with open_catalog(self.workspace, read_only=True) as cat:
            if not cat.has_table("suggestions"):
                raise StageNotRun(f"{self.workspace}: no suggestions yet; run `curate suggest {self.workspace}` first")
            frame = cat.frame_sql("SELECT * FROM suggestions ORDER BY rank")
            if "precision_estimate" not in frame.columns:
                frame = frame.with_columns(pl.col("confidence").alias("precision_estimate"))
            posts = frame["post_id"].unique().to_list()
            with cat.registered("review_posts", pl.DataFrame({"post_id": posts}, schema={"post_id": pl.Int64}).to_arrow()):
                self.paths = dict(cat.rows("SELECT post_id, path FROM images WHERE path IS NOT NULL"))
                tags = cat.rows(
                    "SELECT pt.post_id, t.name, coalesce(t.category, 'general') FROM post_tags pt JOIN tags t USING (tag_id) "
                    "WHERE pt.post_id IN (SELECT post_id FROM review_posts) ORDER BY 1, 3, 2"
                )
                groups = cat.rows(
                    "SELECT g.post_id, g.group_id, g.is_representative FROM dup_groups g "
                    "WHERE g.group_id IN (SELECT group_id FROM dup_groups WHERE post_id IN (SELECT post_id FROM review_posts))"
                )
            every_tag = cat.rows("SELECT pt.post_id, t.name FROM post_tags pt JOIN tags t USING (tag_id) "
                                 "WHERE pt.post_id IN (SELECT post_id FROM dup_groups)")  # fmt: skip
        self.frame = frame.with_columns(pl.col("tag").str.to_lowercase().alias("_tag"))
        self.post_tags: dict[int, dict[str, list[str]]] = {}
        for post, name, category in tags:
            self.post_tags.setdefault(post, {}).setdefault(category, []).append(name)
        self.group_of = {p: g for p, g, _ in groups}
        self.members: dict[int, list[int]] = {}
        for p, g, _ in groups:
            self.members.setdefault(g, []).append(p)
        self.tags_of_member: dict[int, set[str]] = {}
        for post, name in every_tag:
            self.tags_of_member.setdefault(post, set()).add(name)
        self.categories = sorted(set(self.frame["category"].drop_nulls().to_list()))
        self._index = None  # the neighbour index, built on first use
        self._stamp = self._catalog_stamp()

    def refresh(self) -> None:
        """Re-read when a rebuild has replaced the catalog."""
        with self._lock:
            if self._catalog_stamp() != self._stamp:
                self.load()

    def decided(self) -> dict[tuple[int, str, str], str]:
        return {(p, t, a): d for p, t, a, d, *_ in journal.read(self.workspace)}

    def page(self, f: QueueFilter, offset: int = 0, limit: int = 20) -> dict:
        """One page of the queue in rank order, with each card's evidence, and the total it pages over."""
        self.refresh()
        frame = self.frame
        if f.action:
            frame = frame.filter(pl.col("action") == f.action)
        if f.tag:
            frame = frame.filter(pl.col("_tag") == f.tag.strip().lower())
        if f.category:
            frame = frame.filter(pl.col("category") == f.category)
        if f.min_score:
            frame = frame.filter(pl.col("precision_estimate") >= f.min_score)
        decided = self.decided()
        if decided and f.state != "all":
            keys = pl.DataFrame(
                [(p, t, a, d) for (p, t, a), d in decided.items()],
                schema={"post_id": pl.Int64, "tag": pl.Utf8, "action": pl.Utf8, "decision": pl.Utf8},
                orient="row",
            )
            frame = frame.join(keys, on=["post_id", "tag", "action"], how="left")
            if f.state == "open":
                frame = frame.filter(pl.col("decision").is_null())
            else:
                frame = frame.filter(pl.col("decision") == ("accept" if f.state == "accepted" else "reject"))
        elif f.state in ("accepted", "rejected"):
            frame = frame.head(0)
        total = frame.height
        cards = [self.card(row, decided) for row in frame.slice(offset, limit).iter_rows(named=True)]
        return {"total": total, "offset": offset, "cards": cards}

    def card(self, row: dict, decided: dict) -> dict:
        post = row["post_id"]
        group = self.group_of.get(post)
        members = []
        if group is not None:
            for other in sorted(self.members.get(group, [])):
                if other != post:
                    has = row["tag"] in self.tags_of_member.get(other, set())
                    members.append({"post_id": other, "has_tag": has})
        return {
            "post_id": post,
            "tag": row["tag"],
            "category": row.get("category") or "",
            "action": row["action"],
            "confidence": row["confidence"],
            "precision_estimate": row["precision_estimate"],
            "rank": row["rank"],
            "decision": decided.get((post, row["tag"], row["action"])),
            "tags": self.post_tags.get(post, {}),
            "group": members,
            "has_image": post in self.paths,
        }

    def groups(self, offset: int = 0, limit: int = 20) -> dict:
        """Duplicate groups, largest first: members with the representative first, and the
        moderators' verdicts so far."""
        self.refresh()
        with open_catalog(self.workspace, read_only=True) as cat:
            rows = cat.rows("SELECT group_id, post_id, is_representative FROM dup_groups ORDER BY group_id, post_id")
        members: dict[int, list[tuple[int, bool]]] = {}
        for group, post, rep in rows:
            members.setdefault(group, []).append((post, rep))
        apart, chosen = journal.duplicate_decisions(self.workspace)
        ordered = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        out = []
        for group, posts in ordered[offset : offset + limit]:
            rep = next(p for p, r in posts if r)
            out.append({
                "group_id": group,
                "members": [{"post_id": p, "representative": r, "has_image": p in self.paths,
                             "not_duplicate": (p, rep) in apart, "chosen": p in chosen}
                            for p, r in sorted(posts, key=lambda pr: (not pr[1], pr[0]))],
            })  # fmt: skip
        return {"total": len(members), "offset": offset, "groups": out}

    def neighbours(self, post_id: int, tag: str, k: int = NEIGHBOURS) -> list[dict]:
        """The ``k`` labelled posts nearest this one in embedding space (its duplicate group left
        out), and whether each carries ``tag``: what the tagger's neighbourhood says. Empty when
        the workspace has no embeddings. The index is built on first use (faiss, inner product
        over L2-normalised vectors)."""
        if self._index is None:
            self._build_index()
        if not self._index_posts.size:
            return []
        row = self._row_of.get(post_id)
        if row is None:
            return []
        query = self._index.reconstruct(int(row)).reshape(1, -1)
        group = set(self.members.get(self.group_of.get(post_id), [])) | {post_id}
        scores, found = self._index.search(query, k + len(group))
        out = []
        for score, i in zip(scores[0], found[0]):
            other = int(self._index_posts[i]) if i >= 0 else None
            if other is None or other in group:
                continue
            out.append({"post_id": other, "similarity": round(float(score), 3),
                        "has_tag": tag in self._labels.get(other, set())})  # fmt: skip
            if len(out) == k:
                break

        return out

    def _build_index(self) -> None:
        import faiss
        import numpy as np

        from ..config import load_config
        from ..embed.stage import configured_embedder_id, load_vectors

        self._index_posts = np.zeros(0, dtype=np.int64)
        self._index = faiss.IndexFlatIP(1)
        with open_catalog(self.workspace, read_only=True) as cat:
            if not cat.has_table("embeddings") or not cat.has_table("selection"):
                return
            rows = cat.rows(
                "SELECT s.post_id, i.file_md5 FROM selection s JOIN images i USING (post_id) WHERE i.file_md5 IS NOT NULL"
            )
            if not rows or len(rows) > MAX_INDEXED:
                return
            has, vectors = load_vectors(self.workspace, cat, configured_embedder_id(load_config(self.workspace).embed),
                                        [m for _, m in rows])  # fmt: skip
            labels = cat.rows("SELECT pt.post_id, t.name FROM post_tags pt JOIN tags t USING (tag_id) "
                              "WHERE pt.post_id IN (SELECT post_id FROM selection)")  # fmt: skip
        if not has.any():
            return
        self._index_posts = np.array([p for (p, _), h in zip(rows, has) if h], dtype=np.int64)
        self._row_of = {int(p): i for i, p in enumerate(self._index_posts)}
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._labels: dict[int, set[str]] = {}
        for post, name in labels:
            self._labels.setdefault(post, set()).add(name)

    def image_path(self, post_id: int) -> Path | None:
        """The file of a post the catalog knows; None for any other id (nothing from the request is a path)."""
        path = self.paths.get(post_id)
        return Path(path) if path else None

    def remaining(self, tag: str, action: str, min_score: float) -> list[tuple[int, str, str]]:
        """Open suggestions of one tag and action at or above a precision estimate (a bulk decision's scope)."""
        return [(c["post_id"], c["tag"], c["action"]) for c in
                self.page(QueueFilter(action=action, tag=tag, min_score=min_score), 0, 10**9)["cards"]]  # fmt: skip
