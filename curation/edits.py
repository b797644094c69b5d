"""``curate export-edits``: accepted decisions as the boards take them.

Formats:

- ``danbooru``: one post update a line (JSON lines): ``PUT /posts/{id}.json`` with
  ``post[tag_string]`` (the post's tags, additions, and ``-tag`` for removals) and
  ``post[old_tag_string]`` (its tags as the catalog last saw them), so the board merges the
  edit with edits made meanwhile.
- ``e621``: ``PATCH /posts/{id}.json`` with ``post[tag_string_diff]`` (``tag -tag``),
  ``post[old_tag_string]`` and ``post[edit_reason]`` naming the tool, model and decision.
- ``bur``: Danbooru bulk update request lines, ``mass update id:1,2,3 -> tag`` (``-> -tag``
  for removals), at most ``BUR_IDS`` ids a line and ``BUR_LINES`` lines a request (requests
  separated by a blank line).
- ``csv``: ``post_id,tag,action,moderator,decided_at,note``.

Only accepted decisions; names through the catalog's aliases to today's canonical name; of an
implication chain only the most specific added tag (the board re-implies its parents). Each
export is recorded in the decisions journal, and the next export of that format starts after
it, unless ``since`` says otherwise.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path

from . import decisions as journal
from .catalog import open_catalog
from .errors import CurationError
from .tags import canonicaliser

FORMATS = ("danbooru", "e621", "bur", "csv")
BUR_IDS = 100
BUR_LINES = 100
TOOL = "booru-curate"


@dataclass
class EditsReport:
    format: str
    decisions: int
    posts: int
    text: str
    since: str | None


def _exports_table(con) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS exports (format TEXT, exported_at TEXT, decided_until TEXT, decisions INTEGER, out TEXT)"
    )


def last_export(workspace: Path | str, fmt: str) -> str | None:
    """decided_at of the newest decision the last export of ``fmt`` held (None: never exported)."""
    with journal.journal(workspace) as con:
        _exports_table(con)
        row = con.execute("SELECT max(decided_until) FROM exports WHERE format = ?", [fmt]).fetchone()
    return row[0] if row else None


def export_edits(
    workspace: Path | str, fmt: str, since: str | None = None, out: Path | None = None, record: bool = True
) -> EditsReport:
    """The accepted decisions made after ``since`` (default: after the last export of ``fmt``) as
    ``fmt`` text; written to ``out`` when given, and recorded so the next export starts after them."""
    if fmt not in FORMATS:
        raise CurationError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    workspace = Path(workspace)
    start = last_export(workspace, fmt)
    if since is not None:
        try:
            start = journal.time_text(dt.datetime.fromisoformat(since))
        except ValueError:
            raise CurationError(f"--since {since!r}: not a time (e.g. 2026-12-01 or 2026-12-01T08:00:00)") from None
    rows = [r for r in journal.read(workspace) if r[3] == "accept" and (start is None or (r[5] or "") > start)]
    with open_catalog(workspace, read_only=True) as cat:
        canonical = canonicaliser(cat)
        rows = [(int(p), canonical(t), a, d, m, w, n) for p, t, a, d, m, w, n in rows]
        edits = _edits(rows)
        posts = sorted({p for p, _, _ in edits})
        current = _current_tags(cat, posts)
        parents = _parents(cat)
        model = cat.scalar("SELECT name FROM taggers ORDER BY made_at DESC LIMIT 1") if cat.has_table("taggers") else None
    text = RENDER[fmt](edits, current, parents, rows, model or "unknown model")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    if record and rows:
        with journal.journal(workspace) as con:
            _exports_table(con)
            con.execute(
                "INSERT INTO exports VALUES (?, ?, ?, ?, ?)",
                [fmt, journal.now_text(), max(r[5] or "" for r in rows), len(rows), str(out or "-")],
            )
    return EditsReport(fmt, len(rows), len(posts), text, start)


def _edits(rows: list[tuple]) -> list[tuple[int, str, str]]:
    """(post_id, tag, action) of canonicalised rows, once each."""
    return sorted({(p, t, a) for p, t, a, *_ in rows})


def _current_tags(cat, posts: list[int]) -> dict[int, list[str]]:
    """The tags each post carries as its dump wrote them (canonical names), sorted."""
    if not posts:
        return {}
    import polars as pl

    out: dict[int, list[str]] = {p: [] for p in posts}
    with cat.registered("export_posts", pl.DataFrame({"post_id": posts}, schema={"post_id": pl.Int64}).to_arrow()):
        for post, name in cat.rows(
            "SELECT pt.post_id, t.name FROM post_tags pt JOIN tags t USING (tag_id) "
            "WHERE pt.origin = 'dump' AND pt.post_id IN (SELECT post_id FROM export_posts) ORDER BY 1, 2"
        ):
            out[post].append(name)
    return out


def _parents(cat) -> dict[str, set[str]]:
    """tag -> every tag it implies (active implications, transitively)."""
    if not cat.has_table("tag_implication_closure"):
        return {}
    parents: dict[str, set[str]] = {}
    for child, parent in cat.rows("SELECT antecedent, consequent FROM tag_implication_closure"):
        parents.setdefault(child, set()).add(parent)
    return parents


def _per_post(edits, current, parents) -> dict[int, tuple[list[str], list[str]]]:
    """post -> (tags to add, most specific only; tags to remove)."""
    out: dict[int, tuple[list[str], list[str]]] = {}
    for post in sorted({p for p, _, _ in edits}):
        adds = {t for p, t, a in edits if p == post and a == "add"}
        removes = sorted({t for p, t, a in edits if p == post and a == "remove"})
        implied = {parent for t in adds | set(current.get(post, [])) for parent in parents.get(t, ())}
        out[post] = (sorted(adds - implied if adds - implied else adds), removes)
    return out


def _danbooru(edits, current, parents, rows, model) -> str:
    lines = []
    for post, (adds, removes) in _per_post(edits, current, parents).items():
        old = current.get(post, [])
        new = [t for t in old if t not in removes] + [t for t in adds if t not in old] + [f"-{t}" for t in removes]
        params = {"post[tag_string]": " ".join(new), "post[old_tag_string]": " ".join(old)}
        lines.append(json.dumps({"method": "PUT", "path": f"/posts/{post}.json", "params": params}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def _e621(edits, current, parents, rows, model) -> str:
    lines = []
    for post, (adds, removes) in _per_post(edits, current, parents).items():
        diff = " ".join(adds + [f"-{t}" for t in removes])
        who = sorted({r[4] for r in rows if int(r[0]) == post and r[4]})
        reason = f"{TOOL}: suggestions of {model}, accepted by {', '.join(who) or 'a moderator'}"
        params = {
            "post[tag_string_diff]": diff,
            "post[old_tag_string]": " ".join(current.get(post, [])),
            "post[edit_reason]": reason,
        }
        lines.append(json.dumps({"method": "PATCH", "path": f"/posts/{post}.json", "params": params}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def _bur(edits, current, parents, rows, model) -> str:
    per_post = _per_post(edits, current, parents)
    by_tag: dict[str, list[int]] = {}
    for post, (adds, removes) in per_post.items():
        for tag in adds:
            by_tag.setdefault(tag, []).append(post)
        for tag in removes:
            by_tag.setdefault(f"-{tag}", []).append(post)
    lines = []
    for tag, posts in sorted(by_tag.items()):
        for start in range(0, len(posts), BUR_IDS):
            chunk = posts[start : start + BUR_IDS]
            lines.append(f"mass update id:{','.join(map(str, chunk))} -> {tag}")
    requests = ["\n".join(lines[i : i + BUR_LINES]) + "\n" for i in range(0, len(lines), BUR_LINES)]
    return "\n".join(requests)


def _csv(edits, current, parents, rows, model) -> str:
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["post_id", "tag", "action", "moderator", "decided_at", "note"])
    kept = {(p, t, "add") for p, (adds, _) in _per_post(edits, current, parents).items() for t in adds}
    kept |= {e for e in edits if e[2] == "remove"}
    newest = {(p, t, a): (p, t, a, m, w, n) for p, t, a, _, m, w, n in rows}  # rows are oldest first
    for key in sorted(newest):
        if key in kept:
            writer.writerow(newest[key])
    return handle.getvalue()


RENDER = {"danbooru": _danbooru, "e621": _e621, "bur": _bur, "csv": _csv}
