"""Ground truth of a synthetic board, in stable formats under ``OUT/truth/``.

| file | one row per | columns |
|---|---|---|
| posts.parquet | post | post_id, md5, file_ext, width, height, rating, artist, created_at, parent_id, is_deleted, is_banned, is_flagged, is_pending, path (relative to OUT; null without images), true_tags (list of canonical names, implications expanded), dump_tags (list, as written in the dump) |
| duplicates.parquet | post in a planted duplicate group | post_id, group_id (the original's post_id), kind (original, a key of DUPLICATE_KINDS, or with `--reposts all` of REPOST_KINDS: see curation/synth/transforms.py), source_post_id (null for the original), params (JSON) |
| hard_negatives.parquet | a different picture made to look like an earlier one (`--reposts all`) | post_id, like_post_id, kind (palette, layout, character): never a duplicate pair |
| label_noise.parquet | planted label error | post_id, tag, change (missing: a true tag left out of the dump; wrong: a false tag added to it) |
| bad_files.parquet | post with a damaged or unusual file | post_id, path, problem, expected_status (ok, missing, corrupt, bomb) |
| dump_quirks.parquet | planted format quirk | file, line (1-based), post_id (null for rows without id), quirk |
| tags.parquet | tag of the vocabulary | name, category, implies (direct, active), visible, signature |
| relations.parquet | alias or implication row | kind (alias, implication), antecedent, consequent, status |
| manifest.json | board | format, seed, posts, image_size, images, snapshot, params, counts, files |
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import polars as pl

from .posts import BAD_FILE_KINDS, Post, SynthParams
from .vocab import Vocabulary

TRUTH_VERSION = 1


def write_truth(
    out: Path,
    fmt: str,
    posts: list[Post],
    vocab: Vocabulary,
    params: SynthParams,
    images: bool,
    quirks: list[dict],
    paths: dict[int, str],
) -> dict:
    """Write every truth file; returns the manifest."""
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "post_id": [p.post_id for p in posts],
            "md5": [p.md5 for p in posts],
            "file_ext": [p.ext for p in posts],
            "width": [p.width for p in posts],
            "height": [p.height for p in posts],
            "rating": [("s" if p.rating == "g" and fmt != "danbooru2021" else p.rating) for p in posts],
            "artist": [p.artist for p in posts],
            "created_at": [p.created_at for p in posts],
            "parent_id": [p.parent_id for p in posts],
            "is_deleted": [p.is_deleted for p in posts],
            "is_banned": [p.is_banned for p in posts],
            "is_flagged": [p.is_flagged for p in posts],
            "is_pending": [p.is_pending for p in posts],
            "path": [paths.get(p.post_id) for p in posts],
            "true_tags": [sorted(p.true_tags) for p in posts],
            "dump_tags": [p.dump_tags for p in posts],
        },
        schema_overrides={"parent_id": pl.Int64, "path": pl.Utf8},
    ).write_parquet(truth / "posts.parquet")

    sources = {p.dup_of for p in posts if p.dup_of is not None}
    dup_rows = [
        {"post_id": p.post_id, "group_id": p.post_id, "kind": "original", "source_post_id": None, "params": "{}"}
        for p in posts
        if p.post_id in sources
    ]
    dup_rows += [
        {
            "post_id": p.post_id,
            "group_id": p.dup_of,
            "kind": p.dup_kind,
            "source_post_id": p.dup_of,
            "params": json.dumps(p.dup_params, sort_keys=True),
        }
        for p in posts
        if p.dup_of is not None
    ]
    pl.DataFrame(
        dup_rows,
        schema={"post_id": pl.Int64, "group_id": pl.Int64, "kind": pl.Utf8, "source_post_id": pl.Int64, "params": pl.Utf8},
    ).sort("post_id").write_parquet(truth / "duplicates.parquet")

    pl.DataFrame(
        [{"post_id": p.post_id, "like_post_id": p.negative_of, "kind": p.negative_kind} for p in posts if p.negative_of],
        schema={"post_id": pl.Int64, "like_post_id": pl.Int64, "kind": pl.Utf8},
    ).write_parquet(truth / "hard_negatives.parquet")

    noise = [{"post_id": p.post_id, "tag": t, "change": "missing"} for p in posts for t in p.missing]
    noise += [{"post_id": p.post_id, "tag": t, "change": "wrong"} for p in posts for t in p.wrong]
    pl.DataFrame(noise, schema={"post_id": pl.Int64, "tag": pl.Utf8, "change": pl.Utf8}).sort("post_id", "tag").write_parquet(
        truth / "label_noise.parquet"
    )

    expected = dict(BAD_FILE_KINDS)
    pl.DataFrame(
        [
            {"post_id": p.post_id, "path": paths.get(p.post_id), "problem": p.bad, "expected_status": expected[p.bad]}
            for p in posts
            if p.bad
        ],
        schema={"post_id": pl.Int64, "path": pl.Utf8, "problem": pl.Utf8, "expected_status": pl.Utf8},
    ).write_parquet(truth / "bad_files.parquet")

    pl.DataFrame(quirks, schema={"file": pl.Utf8, "line": pl.Int64, "post_id": pl.Int64, "quirk": pl.Utf8}).write_parquet(
        truth / "dump_quirks.parquet"
    )

    parents = vocab.active_parents_cached()
    pl.DataFrame(
        {
            "name": list(vocab.tags),
            "category": [s.category for s in vocab.tags.values()],
            "implies": [sorted(parents.get(n, [])) for n in vocab.tags],
            "visible": [s.visible for s in vocab.tags.values()],
            "signature": [s.signature for s in vocab.tags.values()],
        },
        schema_overrides={"implies": pl.List(pl.Utf8)},
    ).write_parquet(truth / "tags.parquet")
    pl.DataFrame(
        [{"kind": "alias", "antecedent": a, "consequent": c, "status": s} for a, c, s in vocab.aliases]
        + [{"kind": "implication", "antecedent": a, "consequent": c, "status": s} for a, c, s in vocab.implications]
    ).write_parquet(truth / "relations.parquet")

    counts = {
        "posts": len(posts),
        "tags_in_dump": len({t for p in posts for t in p.dump_tags}),
        "duplicates": sum(p.dup_of is not None for p in posts),
        "duplicates_by_kind": {k: sum(p.dup_kind == k for p in posts) for k in sorted({p.dup_kind for p in posts if p.dup_kind})},
        "hard_negatives": sum(p.negative_of is not None for p in posts),
        "missing_tags": len([1 for p in posts for _ in p.missing]),
        "wrong_tags": len([1 for p in posts for _ in p.wrong]),
        "bad_files": sum(p.bad is not None for p in posts),
        "deleted": sum(p.is_deleted for p in posts),
        "banned": sum(p.is_banned for p in posts),
        "with_parent": sum(p.parent_id is not None for p in posts),
    }
    params_json = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dataclasses.asdict(params).items()}
    manifest = {
        "truth_version": TRUTH_VERSION,
        "format": fmt,
        "seed": params.seed,
        "posts": params.posts,
        "image_size": params.image_size,
        "images": images,
        "snapshot": params.snapshot.isoformat(),
        "params": params_json,
        "counts": counts,
        "files": sorted(
            str(p.relative_to(out))
            for p in out.rglob("*")
            if p.is_file() and "original" not in p.parts and p.name != "manifest.json"
        ),
    }
    (truth / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
