"""Write a synthetic board's metadata in the real export formats, quirks included.

- ``danbooru2021``: BigQuery-era JSONL split over ``metadata/posts000000000000.json`` ...,
  typed values, ``tag_string_<category>`` fields, ``parent_id``/``pixiv_id`` absent on some
  rows, a few rows without ``id``; ``metadata/tags000000000000.json``; aliases and
  implications as CSV in Danbooru's own column set.
- ``danbooru2017``: 2017-2020 JSONL (``metadata/2017000000000000.json`` ...) with numbers as
  strings, ``... UTC`` timestamps, tags as ``{"id","name","category"}`` objects, s/q/e ratings,
  ``"0"`` for no parent, plus ``pools`` and ``favs``.
- ``e621``: ``db_export/posts-DATE.csv.gz`` with ``t``/``f`` booleans and multi-line quoted
  descriptions and sources, ``tags-DATE.csv.gz``, ``tag_aliases-DATE.csv.gz``,
  ``tag_implications-DATE.csv.gz``.

Each writer returns the dump quirks it planted, as rows for ``truth/dump_quirks.parquet``.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np

from .posts import Post
from .vocab import Vocabulary

FORMATS = ("danbooru2021", "danbooru2017", "e621")
FORMAT_FLAVOUR = {"danbooru2021": "danbooru", "danbooru2017": "danbooru", "e621": "e621"}
DANBOORU_RELATION_COLUMNS = (
    "id",
    "antecedent_name",
    "consequent_name",
    "creator_id",
    "forum_topic_id",
    "status",
    "created_at",
    "updated_at",
    "approver_id",
    "forum_post_id",
    "reason",
)
E621_RELATION_COLUMNS = ("id", "antecedent_name", "consequent_name", "created_at", "status")
E621_POST_COLUMNS = (
    "id",
    "uploader_id",
    "created_at",
    "md5",
    "source",
    "rating",
    "image_width",
    "image_height",
    "tag_string",
    "locked_tags",
    "fav_count",
    "file_ext",
    "parent_id",
    "change_seq",
    "approver_id",
    "file_size",
    "comment_count",
    "description",
    "duration",
    "updated_at",
    "is_deleted",
    "is_pending",
    "is_flagged",
    "score",
    "up_score",
    "down_score",
    "is_rating_locked",
    "is_status_locked",
    "is_note_locked",
)
DANBOORU_TAG_CATEGORY_FIELDS = ("general", "artist", "copyright", "character", "meta")


def tag_ids(vocab: Vocabulary) -> dict[str, int]:
    """Stable ids for every tag name the dump may contain (canonical tags and alias antecedents)."""
    names = list(vocab.tags) + [a for a, _, _ in vocab.aliases if a not in vocab.tags]
    return {name: 1000 + 7 * i for i, name in enumerate(names)}


def tag_categories(vocab: Vocabulary) -> dict[str, str]:
    """Category of every dump tag name: its own, or its alias target's for an old name."""
    out = {name: spec.category for name, spec in vocab.tags.items()}
    for antecedent, consequent, _ in vocab.aliases:
        out.setdefault(antecedent, vocab.tags[consequent].category)
    return out


def _iso(t: dt.datetime) -> str:
    """Danbooru API style: 2021-02-01T12:34:56.789-05:00 (the board's local offset)."""
    return t.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat(timespec="milliseconds")


def _utc_2017(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-1] + " UTC"


def _e621_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _rows_per_file(n: int) -> int:
    """Split into several files like the real exports (at least 2 once there are 2 rows)."""
    return max(1, min(50_000, -(-n // 4)))


def write_danbooru2021(out: Path, posts: list[Post], vocab: Vocabulary, seed: int) -> list[dict]:
    meta = out / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 20])
    cats = vocab.categories
    category_of = tag_categories(vocab)
    quirks: list[dict] = []
    per_file = _rows_per_file(len(posts))
    for file_no, start in enumerate(range(0, len(posts), per_file)):
        name = f"posts{file_no:012d}.json"
        lines: list[str] = []
        for post in posts[start : start + per_file]:
            by_cat: dict[str, list[str]] = {c: [] for c in DANBOORU_TAG_CATEGORY_FIELDS}
            for tag in post.dump_tags:
                by_cat[category_of[tag]].append(tag)
            row = {
                "id": post.post_id,
                "created_at": _iso(post.created_at),
                "uploader_id": post.uploader_id,
                "score": post.score,
                "source": post.source,
                "md5": post.md5,
                "rating": post.rating,
                "image_width": post.width,
                "image_height": post.height,
                "tag_string": " ".join(post.dump_tags),
                "fav_count": post.fav_count,
                "file_ext": post.ext,
                "parent_id": post.parent_id,
                "has_children": post.has_children,
                "approver_id": post.approver_id,
                "file_size": post.file_size,
                "up_score": post.up_score,
                "down_score": post.down_score,
                "is_pending": post.is_pending,
                "is_flagged": post.is_flagged,
                "is_deleted": post.is_deleted,
                "is_banned": post.is_banned,
                "updated_at": _iso(post.updated_at),
                "pixiv_id": post.pixiv_id,
                "tag_count": len(post.dump_tags),
                **{f"tag_count_{c}": len(by_cat[c]) for c in DANBOORU_TAG_CATEGORY_FIELDS},
                **{f"tag_string_{c}": " ".join(by_cat[c]) for c in DANBOORU_TAG_CATEGORY_FIELDS},
                "has_active_children": post.has_children,
                "bit_flags": 0,
            }
            if post.parent_id is None and rng.random() < 0.5:
                del row["parent_id"]
                quirks.append(
                    {"file": f"metadata/{name}", "line": len(lines) + 1, "post_id": post.post_id, "quirk": "parent_id absent"}
                )
            if post.pixiv_id is None and rng.random() < 0.5:
                del row["pixiv_id"]
            lines.append(json.dumps(row, ensure_ascii=False))
            if rng.random() < 0.002 or (file_no == 0 and len(lines) == 3):
                junk = dict(row)
                del junk["id"]
                lines.append(json.dumps(junk, ensure_ascii=False))
                quirks.append({"file": f"metadata/{name}", "line": len(lines), "post_id": None, "quirk": "row without id"})
        (meta / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = Counter(t for p in posts for t in p.dump_tags)
    ids = tag_ids(vocab)
    created = dt.datetime(2005, 5, 24, tzinfo=dt.UTC)
    with open(meta / "tags000000000000.json", "w", encoding="utf-8") as f:
        for name, tid in ids.items():
            f.write(
                json.dumps(
                    {
                        "id": tid,
                        "name": name,
                        "post_count": counts.get(name, 0),
                        "category": cats[category_of[name]],
                        "created_at": _iso(created),
                        "updated_at": _iso(created),
                        "is_deprecated": False,
                    }
                )
                + "\n"
            )
    _write_danbooru_relations(meta, vocab, rng)
    return quirks


def _write_danbooru_relations(meta: Path, vocab: Vocabulary, rng: np.random.Generator) -> None:
    for file_name, rows in (("tag_aliases.csv", vocab.aliases), ("tag_implications.csv", vocab.implications)):
        with open(meta / file_name, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)
            w.writerow(DANBOORU_RELATION_COLUMNS)
            for i, (antecedent, consequent, status) in enumerate(rows):
                stamp = _iso(dt.datetime(2010, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=int(rng.integers(0, 5000))))
                w.writerow(
                    [
                        200_000 - i,
                        antecedent,
                        consequent,
                        int(rng.integers(1, 900_000)),
                        int(rng.integers(1, 30_000)),
                        status,
                        stamp,
                        stamp,
                        int(rng.integers(1, 900_000)),
                        "",
                        "",
                    ]
                )


def write_danbooru2017(out: Path, posts: list[Post], vocab: Vocabulary, seed: int) -> list[dict]:
    meta = out / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 21])
    ids = tag_ids(vocab)
    cats = vocab.categories
    category_of = tag_categories(vocab)
    per_file = _rows_per_file(len(posts))
    for file_no, start in enumerate(range(0, len(posts), per_file)):
        with open(meta / f"2017{file_no:012d}.json", "w", encoding="utf-8") as f:
            for post in posts[start : start + per_file]:
                row = {
                    "id": str(post.post_id),
                    "created_at": _utc_2017(post.created_at),
                    "uploader_id": str(post.uploader_id),
                    "score": str(post.score),
                    "source": post.source,
                    "md5": post.md5,
                    "last_commented_at": "1970-01-01 00:00:00 UTC",
                    "rating": "s" if post.rating == "g" else post.rating,
                    "image_width": str(post.width),
                    "image_height": str(post.height),
                    "is_note_locked": False,
                    "file_ext": post.ext,
                    "last_noted_at": "1970-01-01 00:00:00 UTC",
                    "is_rating_locked": False,
                    "parent_id": str(post.parent_id or 0),
                    "has_children": post.has_children,
                    "approver_id": str(post.approver_id or 0),
                    "file_size": str(post.file_size),
                    "is_status_locked": False,
                    "up_score": str(post.up_score),
                    "down_score": str(post.down_score),
                    "is_pending": post.is_pending,
                    "is_flagged": post.is_flagged,
                    "is_deleted": post.is_deleted,
                    "updated_at": _utc_2017(post.updated_at),
                    "is_banned": post.is_banned,
                    "pixiv_id": str(post.pixiv_id or 0),
                    "tags": [{"id": str(ids[t]), "name": t, "category": str(cats[category_of[t]])} for t in post.dump_tags],
                    "pools": [],
                    "favs": [str(int(u)) for u in rng.integers(1, 500_000, min(post.fav_count, 5))],
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    _write_danbooru_relations(meta, vocab, rng)
    return []


def _gz_csv(path: Path, header: tuple[str, ...], rows) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_e621(out: Path, posts: list[Post], vocab: Vocabulary, seed: int, snapshot: dt.date) -> list[dict]:
    export = out / "db_export"
    export.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 22])
    day = snapshot.isoformat()
    tf = {True: "t", False: "f"}
    quirks: list[dict] = []
    rows = []
    for line_no, post in enumerate(posts, start=2):
        source = post.source
        if source and rng.random() < 0.3:  # e621 keeps several sources, one a line
            source = f"{source}\nhttps://e621.net/posts/{post.post_id}"
        rows.append(
            [
                post.post_id,
                post.uploader_id,
                _e621_time(post.created_at),
                post.md5,
                source,
                "s" if post.rating == "g" else post.rating,
                post.width,
                post.height,
                " ".join(post.dump_tags),
                "",
                post.fav_count,
                post.ext,
                post.parent_id if post.parent_id is not None else "",
                post.post_id * 3,
                post.approver_id if post.approver_id is not None else "",
                post.file_size,
                int(rng.integers(0, 20)),
                post.description,
                "0.4" if post.scene.frames > 1 else "",
                _e621_time(post.updated_at),
                tf[post.is_deleted],
                tf[post.is_pending],
                tf[post.is_flagged],
                post.score,
                post.up_score,
                post.down_score,
                "f",
                "f",
                "f",
            ]
        )
        if "\n" in post.description or "\n" in source:
            quirks.append(
                {"file": f"db_export/posts-{day}.csv.gz", "line": line_no, "post_id": post.post_id, "quirk": "multi-line field"}
            )
    _gz_csv(export / f"posts-{day}.csv.gz", E621_POST_COLUMNS, rows)
    counts = Counter(t for p in posts for t in p.dump_tags)
    cats = vocab.categories
    category_of = tag_categories(vocab)
    _gz_csv(
        export / f"tags-{day}.csv.gz",
        ("id", "name", "category", "post_count"),
        [[tid, name, cats[category_of[name]], counts.get(name, 0)] for name, tid in tag_ids(vocab).items()],
    )
    for kind, relation_rows in (("tag_aliases", vocab.aliases), ("tag_implications", vocab.implications)):
        _gz_csv(
            export / f"{kind}-{day}.csv.gz",
            E621_RELATION_COLUMNS,
            [
                [i + 1, a, c, _e621_time(dt.datetime(2012, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=i)), s]
                for i, (a, c, s) in enumerate(relation_rows)
            ],
        )
    return quirks


def write_metadata(fmt: str, out: Path, posts: list[Post], vocab: Vocabulary, seed: int, snapshot: dt.datetime) -> list[dict]:
    """Write the dump in ``fmt``; returns the planted quirks."""
    if fmt == "danbooru2021":
        return write_danbooru2021(out, posts, vocab, seed)
    if fmt == "danbooru2017":
        return write_danbooru2017(out, posts, vocab, seed)
    if fmt == "e621":
        return write_e621(out, posts, vocab, seed, snapshot.date())
    raise ValueError(f"unknown format {fmt!r}")
