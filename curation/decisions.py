"""Moderators' decisions: one journal per workspace, ``WORKSPACE/decisions.sqlite``.

The journal is the record. ``curate review`` (and the review page) write to it at once, in
SQLite transactions that several processes can make together, without the workspace lock: a
decision is never lost to a rebuild that runs meanwhile. Every stage that writes the catalog
copies the journal into the catalog's ``decisions`` table when it starts (:func:`sync_decisions`,
called by ``staged_catalog``), tag names canonicalised with the catalog's current aliases, so
split, train and suggest all see every decision made before they began.

Rows a moderator writes straight into ``out/review.sqlite``'s ``decisions`` table are folded
into the journal on the same occasions (:func:`import_review_rows`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import CurationError, DamagedFile

JOURNAL_NAME = "decisions.sqlite"
COLUMNS = ("post_id", "tag", "action", "decision", "moderator", "decided_at", "note")
ACTIONS = ("add", "remove")
VERDICTS = ("accept", "reject")
BUSY_TIMEOUT_MS = 30_000


def now_text() -> str:
    """The current UTC time as the journal stores it (ISO 8601, microseconds, no zone)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def time_text(value) -> str:
    """A time as the journal stores it (UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``): such strings sort as times."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise CurationError(f"decided_at {value!r}: not a time (e.g. 2026-12-01 08:00:00)") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


@contextlib.contextmanager
def open_sqlite(path: Path, what: str) -> Iterator[sqlite3.Connection]:
    """A SQLite connection that waits for other writers; a file that is not a database is named."""
    try:
        con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        raise DamagedFile(
            f"{path}: the {what} does not open ({exc}); it was left as it is: restore it from a backup, or move it away"
        ) from None
    try:
        yield con
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise
        raise DamagedFile(f"{path}: the {what} does not read ({exc}); it was left as it is: restore it from a backup") from None
    finally:
        con.close()


@contextlib.contextmanager
def journal(workspace: Path | str) -> Iterator[sqlite3.Connection]:
    """The workspace's decisions journal, created on first use (WAL: readers never wait for a writer)."""
    with open_sqlite(Path(workspace) / JOURNAL_NAME, "decisions journal") as con:
        for _ in range(BUSY_TIMEOUT_MS // 50):  # switching to WAL takes a lock the busy timeout does not wait for
            try:
                con.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                time.sleep(0.05)
        con.execute(
            "CREATE TABLE IF NOT EXISTS decisions (post_id INTEGER NOT NULL, tag TEXT NOT NULL, "
            "action TEXT NOT NULL CHECK (action IN ('add', 'remove')), "
            "decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject')), moderator TEXT, decided_at TEXT, note TEXT, "
            "PRIMARY KEY (post_id, tag, action))"
        )
        yield con


def record(workspace: Path | str, rows: list[tuple]) -> int:
    """Upsert (post_id, tag, action, decision, moderator, decided_at, note) rows in one transaction;
    returns how many were new or changed the decision."""
    rows = [(int(p), t, a, d, m or "", time_text(w) if w else now_text(), n or "") for p, t, a, d, m, w, n in rows]
    for row in rows:
        if row[2] not in ACTIONS or row[3] not in VERDICTS:
            raise CurationError(f"a decision needs action add|remove and decision accept|reject, not {row[2:4]}")
    with journal(workspace) as con:
        con.execute("BEGIN IMMEDIATE")
        changed = 0
        for row in rows:
            old = con.execute("SELECT decision FROM decisions WHERE post_id = ? AND tag = ? AND action = ?", row[:3]).fetchone()
            changed += old is None or old[0] != row[3]
            con.execute(f"INSERT OR REPLACE INTO decisions ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        con.execute("COMMIT")
    return changed


def forget(workspace: Path | str, keys: list[tuple[int, str, str]]) -> int:
    """Delete decisions by (post_id, tag, action) (an undo); returns how many there were."""
    with journal(workspace) as con:
        con.execute("BEGIN IMMEDIATE")
        gone = sum(con.execute("DELETE FROM decisions WHERE post_id = ? AND tag = ? AND action = ?", k).rowcount for k in keys)
        con.execute("COMMIT")
    return gone


def read(workspace: Path | str) -> list[tuple]:
    """Every decision, as (post_id, tag, action, decision, moderator, decided_at, note)."""
    if not (Path(workspace) / JOURNAL_NAME).exists():
        return []
    with journal(workspace) as con:
        return con.execute(f"SELECT {', '.join(COLUMNS)} FROM decisions ORDER BY decided_at, post_id, tag").fetchall()


def signature(workspace: Path | str) -> list:
    """A cheap summary that changes whenever any decision does (for stage fingerprints)."""
    rows = read(workspace)
    return [len(rows), hash_rows(rows)]


def hash_rows(rows: list[tuple]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(sorted(r[:4] for r in rows)).encode()).hexdigest()[:16]


def import_review_rows(workspace: Path | str) -> int:
    """Fold rows moderators wrote into ``out/review.sqlite``'s decisions table into the journal
    (those new or with another decision than the journal's); returns how many."""
    review = Path(workspace) / "out" / "review.sqlite"
    if not review.exists():
        return 0
    with open_sqlite(review, "review database") as con:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'decisions'").fetchone():
            return 0
        cols = [r[1] for r in con.execute("PRAGMA table_info(decisions)")]
        wanted = [c if c in cols else "NULL" for c in COLUMNS]
        rows = con.execute(f"SELECT {', '.join(wanted)} FROM decisions").fetchall()
    rows = [r for r in rows if r[0] is not None and r[1] and r[3]]
    bad = [r for r in rows if r[2] not in ACTIONS or r[3] not in VERDICTS]
    if bad:
        raise CurationError(
            f"{review}: decisions need action add|remove and decision accept|reject; e.g. {json.dumps(bad[0], default=str)}"
        )
    known = {r[:3]: r[3] for r in read(workspace)}
    fresh = [r for r in rows if known.get((int(r[0]), r[1], r[2])) != r[3]]
    return record(workspace, fresh) if fresh else 0


def sync_decisions(cat, workspace: Path | str) -> int:
    """The catalog's ``decisions`` table made equal to the journal, names canonicalised with the
    catalog's aliases. A workspace from before the journal existed gets one, seeded from the
    catalog's table. Returns how many decisions there are."""
    from .tags import canonicaliser

    workspace = Path(workspace)
    if not (workspace / JOURNAL_NAME).exists():
        existing = cat.rows(f"SELECT {', '.join(COLUMNS)} FROM decisions") if cat.has_table("decisions") else []
        if not existing and not (workspace / "out" / "review.sqlite").exists():
            return 0
        record(workspace, [(*r[:5], str(r[5]) if r[5] else None, r[6]) for r in existing])
    import_review_rows(workspace)
    canonical = canonicaliser(cat)
    latest: dict[tuple, tuple] = {}
    for p, t, a, d, m, w, n in read(workspace):  # oldest first: after canonicalising, the newest wins
        latest[(p, canonical(t), a)] = (p, canonical(t), a, d, m, dt.datetime.fromisoformat(w) if w else None, n)
    import polars as pl

    frame = pl.DataFrame(
        list(latest.values()),
        schema=dict(zip(COLUMNS, (pl.Int64, pl.Utf8, pl.Utf8, pl.Utf8, pl.Utf8, pl.Datetime("us"), pl.Utf8))),
        orient="row",
    )
    cat.con.execute("DELETE FROM decisions")
    with cat.registered("journal_decisions", frame.to_arrow()):
        cat.con.execute(f"INSERT INTO decisions SELECT {', '.join(COLUMNS)} FROM journal_decisions")
    return len(latest)


def acceptance_rates(workspace: Path | str, by_action: bool = False) -> dict:
    """tag (or with ``by_action`` (tag, action)) -> (accepted, rejected) over every decision in the journal."""
    out: dict = {}
    for _, tag, action, decision, *_ in read(workspace):
        counts = out.setdefault((tag, action) if by_action else tag, [0, 0])
        counts[0 if decision == "accept" else 1] += 1
    return {t: (a, r) for t, (a, r) in out.items()}


def _dup_tables(con) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS dup_splits (post_a INTEGER NOT NULL, post_b INTEGER NOT NULL, moderator TEXT, "
        "decided_at TEXT, PRIMARY KEY (post_a, post_b))"
    )
    con.execute("CREATE TABLE IF NOT EXISTS dup_representatives (post_id INTEGER PRIMARY KEY, moderator TEXT, decided_at TEXT)")


def record_not_duplicates(workspace: Path | str, post: int, other: int, moderator: str) -> None:
    """A moderator's verdict that ``post`` is not a duplicate of ``other``: the next ``curate
    dedupe`` keeps them apart (``post`` leaves the group if other edges still join them)."""
    with journal(workspace) as con:
        _dup_tables(con)
        con.execute("INSERT OR REPLACE INTO dup_splits VALUES (?, ?, ?, ?)", [int(post), int(other), moderator, now_text()])


def record_representative(workspace: Path | str, post: int, moderator: str) -> None:
    """A moderator's choice of the post that stands for its duplicate group (honoured by ``curate dedupe``)."""
    with journal(workspace) as con:
        _dup_tables(con)
        con.execute("INSERT OR REPLACE INTO dup_representatives VALUES (?, ?, ?)", [int(post), moderator, now_text()])


def duplicate_decisions(workspace: Path | str) -> tuple[set[tuple[int, int]], set[int]]:
    """(pairs judged not duplicates, as (post that leaves, other); posts chosen as representatives)."""
    if not (Path(workspace) / JOURNAL_NAME).exists():
        return set(), set()
    with journal(workspace) as con:
        _dup_tables(con)
        splits = {(a, b) for a, b in con.execute("SELECT post_a, post_b FROM dup_splits")}
        reps = {r[0] for r in con.execute("SELECT post_id FROM dup_representatives")}
    return splits, reps
