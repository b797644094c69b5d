"""Moderators' side of the suggestions: ``curate review`` decisions, ``out/review.sqlite`` and
``out/tag_edits.csv``.

Decisions go to the workspace's journal (:mod:`curation.decisions`) without taking the
workspace lock, so a review made while a rebuild runs is never lost; the catalog is only read
(to check that the post and tag exist and to find the current suggestion's action).
``review.sqlite`` is updated in place, inside one SQLite transaction, so that rows moderators
write into it meanwhile are neither lost nor half-read.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from .. import decisions as journal
from ..catalog import Catalog, open_catalog
from ..errors import CurationError
from ..tags import canonicaliser

REVIEW_TABLES = {
    "suggestions": "rank INTEGER PRIMARY KEY, post_id INTEGER, tag TEXT, category TEXT, action TEXT, "
    "precision_estimate REAL, confidence REAL, "
    "label_quality REAL, implies TEXT, path TEXT",
    "posts": "post_id INTEGER PRIMARY KEY, path TEXT, rating TEXT, score INTEGER, tags TEXT",
    "tags": "name TEXT PRIMARY KEY, category TEXT, count INTEGER",
}
DECISIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS decisions (post_id INTEGER, tag TEXT, action TEXT, decision TEXT, moderator TEXT, "
    "decided_at TEXT, note TEXT, PRIMARY KEY (post_id, tag, action))"
)


def parse_item(item: str) -> tuple[int, str, str | None]:
    """``POST_ID:TAG[:ACTION]`` -> (post, tag, action or None). The tag may hold colons (``:d``,
    ``re:zero``): only a last part that is ``add`` or ``remove`` is taken as the action."""
    post, sep, rest = item.partition(":")
    if not sep or not post.strip().isdigit() or not rest.strip():
        raise CurationError(f"{item!r}: expected POST_ID:TAG or POST_ID:TAG:add|remove")
    head, sep, last = rest.rpartition(":")
    if sep and head and last in journal.ACTIONS:
        return int(post), head, last
    return int(post), rest, None


def read_decision_file(path: Path) -> list[tuple[int, str, str | None, str, str]]:
    """A CSV of decisions: columns post_id, tag, decision (accept|reject) and optionally action
    (add|remove; default: the current suggestion's) and note. Returns (post, tag, action, decision, note)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"post_id", "tag", "decision"} - set(reader.fieldnames or [])
            if missing:
                raise CurationError(
                    f"{path}: a decisions file needs the columns post_id, tag, decision (missing {sorted(missing)})"
                )
            out = []
            for line, row in enumerate(reader, start=2):
                post, tag, decision = (
                    (row.get("post_id") or "").strip(),
                    row.get("tag") or "",
                    (row.get("decision") or "").strip(),
                )
                if not post.isdigit() or not tag.strip() or decision not in journal.VERDICTS:
                    raise CurationError(f"{path} line {line}: expected a post id, a tag and accept|reject, got {row}")
                action = (row.get("action") or "").strip() or None
                if action is not None and action not in journal.ACTIONS:
                    raise CurationError(f"{path} line {line}: action must be add or remove, not {action!r}")
                out.append((int(post), tag, action, decision, row.get("note") or ""))
            return out
    except OSError as exc:
        raise CurationError(f"{path}: cannot read the decisions file ({exc.strerror})") from None


def review(
    workspace: Path | str,
    accept: list[str],
    reject: list[str],
    moderator: str,
    note: str = "",
    decision_file: Path | None = None,
) -> tuple[int, Path]:
    """Record decisions given as POST_ID:TAG[:ACTION] (the action defaults to the current
    suggestion's) or in a CSV; updates review.sqlite and tag_edits.csv. Every post and tag is
    checked against the catalog before anything is written. Returns (decisions recorded, edits file)."""
    workspace = Path(workspace)
    wanted = [
        (decision, *parse_item(item), note) for decision, items in (("accept", accept), ("reject", reject)) for item in items
    ]
    if decision_file is not None:
        wanted += [(d, p, t, a, n or note) for p, t, a, d, n in read_decision_file(decision_file)]
    with open_catalog(workspace, read_only=True) as cat:
        rows = _checked(cat, wanted, moderator)
    recorded = journal.record(workspace, rows)
    out = workspace / "out"
    out.mkdir(exist_ok=True)
    if (out / "review.sqlite").exists():
        mirror_into_review_db(out / "review.sqlite", rows)
    edits = out / "tag_edits.csv"
    export_tag_edits(journal.read(workspace), edits)
    return recorded, edits


def _checked(cat: Catalog, wanted: list[tuple], moderator: str) -> list[tuple]:
    canonical = canonicaliser(cat)
    current = {}
    if cat.has_table("suggestions"):
        current = {(p, t): a for p, t, a in cat.rows("SELECT post_id, tag, action FROM suggestions")}
    posts = {r[0] for r in cat.rows("SELECT post_id FROM posts")}
    tags = {r[0] for r in cat.rows("SELECT name FROM tags")}
    rows = []
    for decision, post, given_tag, action, note in wanted:
        tag = canonical(given_tag)
        where = f"{post}:{given_tag}"
        if post not in posts:
            raise CurationError(f"{where!r}: no post {post} in the catalog")
        if tag not in tags:
            raise CurationError(f"{where!r}: no tag {given_tag!r} in the catalog")
        action = action or current.get((post, tag))
        if action is None:
            raise CurationError(f"{where!r}: no current suggestion for this post and tag; give :add or :remove")
        rows.append((post, tag, action, decision, moderator, None, note))
    return rows


def mirror_into_review_db(path: Path, rows: list[tuple]) -> None:
    """New decisions into review.sqlite in place: its decisions table, and out of its suggestions."""
    stamped = [(p, t, a, d, m, w or journal.now_text(), n) for p, t, a, d, m, w, n in rows]
    with journal.open_sqlite(path, "review database") as con:
        con.execute("BEGIN IMMEDIATE")
        con.execute(DECISIONS_DDL)
        con.executemany("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?)", stamped)
        if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'suggestions'").fetchone():
            con.executemany("DELETE FROM suggestions WHERE post_id = ? AND tag = ? AND action = ?", [r[:3] for r in stamped])
        con.execute("COMMIT")


def write_review_db(cat: Catalog, frame: pl.DataFrame, path: Path, workspace: Path) -> None:
    """review.sqlite rewritten in place in one transaction: suggestions (with each post's image
    path), posts, tags, and decisions (the journal's). Rows moderators wrote into its decisions
    table since the journal last read them are folded into the journal first, under the same lock."""
    posts = frame["post_id"].unique().to_list()
    with cat.registered("wanted_posts", pl.DataFrame({"post_id": posts}, schema={"post_id": pl.Int64}).to_arrow()):
        post_rows = cat.rows("""
            SELECT p.post_id, i.path, p.rating, p.score, string_agg(t.name, ' ' ORDER BY t.name) AS tags
            FROM posts p LEFT JOIN images i USING (post_id) LEFT JOIN post_labels pl USING (post_id)
            LEFT JOIN tags t USING (tag_id)
            WHERE p.post_id IN (SELECT post_id FROM wanted_posts) GROUP BY ALL ORDER BY p.post_id""")
    paths = {r[0]: r[1] for r in post_rows}
    tag_rows = cat.rows("SELECT name, category, count FROM selected_tags ORDER BY count DESC, name")
    suggestion_rows = [
        (r["rank"], r["post_id"], r["tag"], r["category"], r["action"], r["precision_estimate"], r["confidence"],
         r["label_quality"],
         " ".join(r["implies"] or []), paths.get(r["post_id"]))
        for r in frame.to_dicts()
    ]  # fmt: skip
    with journal.open_sqlite(path, "review database") as con:
        con.execute("BEGIN IMMEDIATE")
        con.execute(DECISIONS_DDL)
        written = con.execute(f"SELECT {', '.join(journal.COLUMNS)} FROM decisions").fetchall()
        known = {r[:3]: r[3] for r in journal.read(workspace)}
        fresh = [r for r in written if r[0] is not None and known.get(tuple(r[:3])) != r[3]]
        if fresh:
            journal.record(workspace, fresh)
        for table, columns in REVIEW_TABLES.items():
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"CREATE TABLE {table} ({columns})")
        con.executemany("INSERT INTO suggestions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", suggestion_rows)
        con.executemany("INSERT INTO posts VALUES (?, ?, ?, ?, ?)", [(r[0], r[1], r[2], r[3], r[4] or "") for r in post_rows])
        con.executemany("INSERT INTO tags VALUES (?, ?, ?)", tag_rows)
        con.execute("DELETE FROM decisions")
        con.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?)", journal.read(workspace))
        con.execute("CREATE INDEX IF NOT EXISTS suggestions_post_id ON suggestions (post_id)")
        con.execute("CREATE INDEX IF NOT EXISTS suggestions_tag ON suggestions (tag)")
        con.execute("COMMIT")


def export_tag_edits(rows: list[tuple], path: Path) -> int:
    """out/tag_edits.csv: accepted decisions (journal rows), the edits to make on the board."""
    accepted = [(p, t, a, m, w, n) for p, t, a, d, m, w, n in rows if d == "accept"]
    pl.DataFrame(
        accepted,
        schema={"post_id": pl.Int64, "tag": pl.Utf8, "action": pl.Utf8, "moderator": pl.Utf8, "decided_at": pl.Utf8,
                "note": pl.Utf8},
        orient="row",
    ).write_csv(path)  # fmt: skip
    return len(accepted)
