"""The synthetic board: determinism, truth consistency, planted duplicates and bad files."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from curation.errors import SynthError
from curation.synth import generate_board
from curation.synth.transforms import DUPLICATE_KINDS, REPOST_KINDS, apply, sample_params, transformed_size
from curation.synth.vocab import COLOURS, OBJECT_SIZES, OBJECT_STYLES, SHAPES, build_vocabulary, object_tag, parse_object_tag


def truth(board: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(board / "truth" / f"{name}.parquet")


def canonical(board: Path) -> dict[str, str]:
    rel = truth(board, "relations").filter((pl.col("kind") == "alias") & (pl.col("status") == "active"))
    return dict(zip(rel["antecedent"], rel["consequent"]))


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_same_seed_same_board_other_seed_other_board(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_board(tmp_path / name, 40, seed=seed, image_size=64, workers=2 if name == "b" else 1)
    a, b, c = (tree_digest(tmp_path / n) for n in "abc")
    assert a == b  # byte for byte, whether rendered in one process or two
    assert a != c
    assert any(k.startswith("original/") for k in a)


def test_truth_posts_match_the_dump(board2021):
    posts = truth(board2021, "posts")
    rows = [json.loads(line) for f in sorted((board2021 / "metadata").glob("posts*.json")) for line in f.read_text().splitlines()]
    dumped = {r["id"]: r for r in rows if "id" in r}
    assert sorted(dumped) == posts["post_id"].to_list()
    for row in posts.iter_rows(named=True):
        d = dumped[row["post_id"]]
        assert sorted(d["tag_string"].split()) == row["dump_tags"]
        assert (d["md5"], d["image_width"], d["image_height"], d["file_ext"]) == (
            row["md5"],
            row["width"],
            row["height"],
            row["file_ext"],
        )


def test_missing_tags_absent_from_dump_present_in_truth(board2021):
    posts = {r["post_id"]: r for r in truth(board2021, "posts").iter_rows(named=True)}
    noise = truth(board2021, "label_noise")
    aliases = canonical(board2021)
    assert noise.filter(pl.col("change") == "missing").height > 20
    assert noise.filter(pl.col("change") == "wrong").height > 5
    for row in noise.iter_rows(named=True):
        post = posts[row["post_id"]]
        dump = {aliases.get(t, t) for t in post["dump_tags"]}
        if row["change"] == "missing":
            assert row["tag"] not in dump and row["tag"] in post["true_tags"]
        else:
            assert row["tag"] in dump and row["tag"] not in post["true_tags"]


def test_dump_tags_expand_to_truth_except_planted_noise(board2021):
    """Canonicalising the dump and expanding implications recovers the truth, noise aside."""
    tags = truth(board2021, "tags")
    parents = dict(zip(tags["name"], tags["implies"]))
    aliases = canonical(board2021)
    noise = truth(board2021, "label_noise")
    missing = {(r["post_id"], r["tag"]) for r in noise.iter_rows(named=True) if r["change"] == "missing"}
    wrong = {(r["post_id"], r["tag"]) for r in noise.iter_rows(named=True) if r["change"] == "wrong"}
    for post in truth(board2021, "posts").iter_rows(named=True):
        expanded = {aliases.get(t, t) for t in post["dump_tags"]}
        stack = list(expanded)
        while stack:
            for p in parents.get(stack.pop(), []):
                if p not in expanded:
                    expanded.add(p)
                    stack.append(p)
        pid = post["post_id"]
        assert expanded - {t for q, t in wrong if q == pid} == set(post["true_tags"]) - {t for q, t in missing if q == pid}


def test_every_planted_duplicate_exists_and_exact_ones_share_bytes(board2021):
    posts = {r["post_id"]: r for r in truth(board2021, "posts").iter_rows(named=True)}
    dups = truth(board2021, "duplicates")
    assert set(dups["kind"]) - {"original"} <= set(DUPLICATE_KINDS)
    assert dups.filter(pl.col("kind") != "original").height >= 10
    for row in dups.iter_rows(named=True):
        assert row["post_id"] in posts and row["group_id"] in posts
        assert dups.filter((pl.col("post_id") == row["group_id"]) & (pl.col("kind") == "original")).height == 1
        if row["kind"] == "exact":
            a, b = posts[row["post_id"]], posts[row["source_post_id"]]
            assert a["md5"] == b["md5"]
            assert (board2021 / a["path"]).read_bytes() == (board2021 / b["path"]).read_bytes()
        if row["kind"] == "variant":
            assert posts[row["post_id"]]["parent_id"] == row["group_id"]


def test_files_match_metadata(board2021):
    bad = set(truth(board2021, "bad_files")["post_id"])
    for post in truth(board2021, "posts").iter_rows(named=True):
        if post["post_id"] in bad:
            continue
        data = (board2021 / post["path"]).read_bytes()
        assert hashlib.md5(data).hexdigest() == post["md5"]
        with Image.open(io.BytesIO(data)) as img:
            assert img.size == (post["width"], post["height"])
            assert img.format == {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}[post["file_ext"]]
        assert post["path"] == f"original/{post['post_id'] % 1000:04d}/{post['post_id']}.{post['file_ext']}"


def test_meta_tags_follow_the_file(board2021):
    for post in truth(board2021, "posts").iter_rows(named=True):
        tags = set(post["true_tags"])
        assert ("highres" in tags) == (max(post["width"], post["height"]) >= 1.25 * 96)
        if post["file_ext"] == "gif" and "animated" in tags:
            with Image.open(board2021 / post["path"]) as img:
                assert img.n_frames > 1


def test_bad_files_are_what_truth_says(board2021):
    bad = truth(board2021, "bad_files")
    assert set(bad["problem"]) == {
        "truncated",
        "zero_byte",
        "missing",
        "not_an_image",
        "decompression_bomb",
        "cmyk_jpeg",
        "png16",
        "palette_transparency",
    }
    for row in bad.iter_rows(named=True):
        path = board2021 / row["path"]
        problem = row["problem"]
        if problem == "missing":
            assert not path.exists()
            continue
        if problem == "zero_byte":
            assert path.stat().st_size == 0
            continue
        if problem == "decompression_bomb":
            with pytest.raises(Image.DecompressionBombError):
                Image.open(path)
            continue
        if problem in ("truncated", "not_an_image"):
            with pytest.raises(OSError):
                with Image.open(path) as img:
                    img.load()
            continue
        with Image.open(path) as img:
            img.load()
            assert {"cmyk_jpeg": "CMYK", "png16": "I;16", "palette_transparency": "P"}[problem] == img.mode
            if problem == "palette_transparency":
                assert "transparency" in img.info


def test_reencode_into_png_keeps_the_decoded_pixels(tmp_path):
    """A JPEG re-encoded as PNG has other bytes but the JPEG's decoded pixels."""
    from curation.synth.posts import SynthParams, sample_posts
    from curation.synth.render import RenderJob, render_job

    vocab = build_vocabulary(0, "danbooru", 50)
    post = sample_posts(vocab, SynthParams(posts=20, image_size=64))[6]
    common = dict(scene=post.scene, style=vocab.styles[post.artist], source_ext="jpg", source_quality=90)
    render_job(RenderJob(1, "src.jpg", ext="jpg", quality=90, dup_kind="exact", **common), str(tmp_path))
    render_job(
        RenderJob(2, "dup.png", ext="png", quality=0, dup_kind="reencode", dup_params={"ext": "png"}, **common), str(tmp_path)
    )
    src, dup = Image.open(tmp_path / "src.jpg"), Image.open(tmp_path / "dup.png")
    assert np.array_equal(np.asarray(src.convert("RGB")), np.asarray(dup.convert("RGB")))
    assert (tmp_path / "src.jpg").read_bytes() != (tmp_path / "dup.png").read_bytes()


def test_vocabulary_has_categories_chains_and_a_long_tail():
    vocab = build_vocabulary(0, "danbooru", 100_000)
    cats = {s.category for s in vocab.tags.values()}
    assert cats == {"general", "artist", "copyright", "character", "meta"}
    assert len(vocab.tags) > 3000
    assert vocab.closure({"absurdly_long_hair"}) >= {"very_long_hair", "long_hair"}
    assert vocab.closure({"large_red_star_outline"}) == {"large_red_star_outline", "red_star_outline", "star_(symbol)"}
    statuses = {s for _, _, s in vocab.aliases}
    assert "active" in statuses and statuses - {"active"}
    weights = np.sort(vocab.object_weights)[::-1]
    assert weights[0] > 50 * weights[-1]  # Zipf-like: a head and a long tail


def test_e621_vocabulary_has_species_chains():
    vocab = build_vocabulary(0, "e621", 1000)
    assert vocab.closure({"fox"}) >= {"canine", "canid", "mammal"}
    assert vocab.closure({"wolf"}) >= {"canis", "canine", "canid", "mammal"}
    assert {"species", "lore", "invalid", "contributor"} <= {s.category for s in vocab.tags.values()}


@given(
    st.sampled_from(list(OBJECT_SIZES)),
    st.sampled_from(list(COLOURS)),
    st.sampled_from(list(SHAPES)),
    st.sampled_from(OBJECT_STYLES),
)
def test_object_tag_names_round_trip(size, colour, shape, style):
    assert parse_object_tag(object_tag(size, colour, shape, style)) == (size, colour, shape, style)


def test_generator_rejects_bad_parameters(tmp_path):
    with pytest.raises(SynthError, match="--format 'gelbooru' is not one of"):
        generate_board(tmp_path, 10, fmt="gelbooru")
    with pytest.raises(SynthError, match="unknown generator parameter"):
        generate_board(tmp_path, 10, images=False, dup_rate=0.5)
    generate_board(tmp_path, 10, images=False)
    with pytest.raises(SynthError, match="already holds a board .* pass --overwrite"):
        generate_board(tmp_path, 10, images=False)


def test_same_arguments_same_bytes_in_processes_with_other_string_hashes(tmp_path):
    """Python salts str hashes per process: set order must never decide a draw."""
    import os
    import subprocess
    import sys

    for name, hash_seed in (("a", "1"), ("b", "2")):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "curation.cli",
                "-q",
                "synth",
                str(tmp_path / name),
                "--posts",
                "150",
                "--seed",
                "7",
                "--no-images",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_an_earlier_snapshot_is_the_same_board_a_day_before(tmp_path):
    """`curate synth --earlier`: the newest 1% of posts missing, deletions and tag edits undone,
    the newest alias and implication absent; everything else the same records."""
    import csv

    manifest = generate_board(tmp_path, 400, seed=2, images=False, earlier=True)
    changes = json.loads((tmp_path / "earlier" / "changes.json").read_text())
    assert manifest["earlier"]["posts_earlier"] == 396 and len(changes["new_posts"]) == 4

    def records(folder: Path) -> dict:
        out = {}
        for path in sorted(folder.glob("posts0*.json")):
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the dump's planted quirks
                if isinstance(row, dict) and "id" in row:
                    out[row["id"]] = row
        return out

    earlier, now = records(tmp_path / "earlier" / "metadata"), records(tmp_path / "metadata")
    assert set(changes["new_posts"]) == set(now) - set(earlier)
    edited = {e["post_id"]: e for e in changes["tag_edits"]}
    differ = {i for i in earlier if earlier[i] != now[i]}
    assert differ == set(changes["deleted_since"]) | set(edited) and differ
    for post in changes["deleted_since"]:
        assert earlier[post]["is_deleted"] is False and now[post]["is_deleted"] is True
    for post, edit in edited.items():
        before, after = set(earlier[post]["tag_string"].split()), set(now[post]["tag_string"].split())
        assert after - before == {edit["added_since"]} if "added_since" in edit else before - after == {edit["removed_since"]}
    for name, pair in (("tag_aliases.csv", changes["new_alias"]), ("tag_implications.csv", changes["new_implication"])):
        rows = [r[1:3] for r in csv.reader((tmp_path / "earlier" / "metadata" / name).open())]
        assert pair not in rows and pair in [r[1:3] for r in csv.reader((tmp_path / "metadata" / name).open())]


@pytest.mark.parametrize("kind", sorted(REPOST_KINDS))
def test_each_repost_kind_gives_the_size_its_metadata_says(kind):
    rng = np.random.default_rng(3)
    source = Image.new("RGB", (173, 121), (40, 90, 200))
    source.paste((250, 250, 250), (40, 30, 90, 80))
    for _ in range(5):
        params = sample_params(kind, rng, "png")
        out = apply(kind, params, source)
        assert out.size == transformed_size(kind, params, *source.size), params
    if kind == "heavy_crop":  # the middle 60% of each side, pixel for pixel
        w, h = out.size
        left, top = (173 - w) // 2, (121 - h) // 2
        assert np.array_equal(np.asarray(out), np.asarray(source.crop((left, top, left + w, top + h))))
    if kind == "censor_bars":  # every bar is black over the picture
        box = params["boxes"][0]
        x, y = int((box[0] + box[2]) / 2 * 173), int((box[1] + box[3]) / 2 * 121)
        assert out.getpixel((x, y)) == COLOURS["black"]


def test_all_reposts_plants_every_kind_and_hard_negatives(tmp_path):
    board = tmp_path / "b"
    manifest = generate_board(board, 700, seed=5, image_size=64, workers=1, reposts="all", duplicate_rate=0.6)
    kinds = set(truth(board, "duplicates")["kind"]) - {"original"}
    assert kinds == set(DUPLICATE_KINDS) | set(REPOST_KINDS)
    negatives = truth(board, "hard_negatives")
    assert set(negatives["kind"]) == {"palette", "layout", "character"}
    posts = {r["post_id"]: r for r in truth(board, "posts").iter_rows(named=True)}
    dup_pairs = set(zip(truth(board, "duplicates")["post_id"], truth(board, "duplicates")["source_post_id"]))
    for post, like, kind in negatives.iter_rows():
        assert (post, like) not in dup_pairs and (like, post) not in dup_pairs
        assert (posts[post]["width"], posts[post]["height"]) == (posts[like]["width"], posts[like]["height"])
        assert posts[post]["md5"] != posts[like]["md5"]
        if kind == "character":
            assert posts[post]["artist"] == posts[like]["artist"]
    assert manifest["counts"]["hard_negatives"] == negatives.height
    classic = generate_board(tmp_path / "c", 300, seed=5, images=False)
    assert set(truth(tmp_path / "c", "duplicates")["kind"]) - {"original"} <= set(DUPLICATE_KINDS)
    assert classic["counts"]["hard_negatives"] == 0
