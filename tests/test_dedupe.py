"""Dedupe: radius search against brute force, union-find properties, edges on hashes
with known answers, and the stage on a synthetic board scored against its truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from conftest import set_config
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.config import DedupeConfig
from curation.dedupe import HashTable, UnionFind, find_edges, group_posts, pick_representative, radius_pairs, run_dedupe
from curation.dedupe.checks import PixelChecks
from curation.dedupe.edges import Radii, hash_near_misses
from curation.dedupe.precision import Calibration, fit_calibration, read_calibration, shipped_calibration
from curation.dedupe.search import choose_layout
from curation.dedupe.stage import EDGE_SCHEMA
from curation.embed import run_embed
from curation.evaluate import evaluate_dedupe
from curation.evaluate.dedupe import edge_calibration
from curation.images import run_images
from curation.ingest import ingest
from curation.select import select
from curation.workspace import init_workspace


@pytest.mark.parametrize("size", [3, 60, 3000])
def test_radius_search_matches_brute_force(size):
    """Exact at every radius, for small (brute-force scan) and larger (multi-index) layouts."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2**63, size, dtype=np.int64).astype(np.uint64)
    near = base ^ (np.uint64(1) << rng.integers(0, 64, size).astype(np.uint64))  # one bit flipped
    near[::3] ^= np.uint64(0b1010)  # and two more on every third
    near[::5] ^= np.uint64(0xF0F0) << np.uint64(40)  # and eight more on every fifth
    index = np.concatenate([base, near])
    distance = np.bitwise_count(index[:, None] ^ index[None, :])  # (2 size, 2 size)
    for radius in (0, 1, 3, 7, 8, 9, 12):
        i, j, d = radius_pairs(index, index[:200], radius)
        expect_i, expect_j = np.nonzero(distance[:200] <= radius)
        assert set(zip(i.tolist(), j.tolist())) == set(zip(expect_i.tolist(), expect_j.tolist()))
        assert (d == distance[i, j]).all()
        i, j, d = radius_pairs(index, None, radius)  # the index against itself: each pair once
        expect_i, expect_j = np.nonzero(np.triu(distance <= radius, 1))
        assert sorted(zip(i.tolist(), j.tolist())) == sorted(zip(expect_i.tolist(), expect_j.tolist()))


def test_radius_search_layout_follows_the_index_size():
    assert choose_layout(5, 8).substrings == 0  # brute force is cheapest
    big = choose_layout(1_000_000, 8)
    assert big.substrings * big.key_bits <= 64 and big.sub_radius == 8 // big.substrings
    assert big.cost < 1_000_000 / 100


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=60))
@settings(max_examples=60, deadline=None)
def test_union_find_groups_are_the_connected_components(pairs):
    uf = UnionFind(range(31))
    for a, b in pairs:
        uf.union(a, b)
    groups = uf.groups()
    assert sorted(m for g in groups.values() for m in g) == list(range(31))  # a partition
    reach = {n: {n} for n in range(31)}
    changed = True
    while changed:  # transitive closure by hand
        changed = False
        for a, b in pairs:
            merged = reach[a] | reach[b]
            for n in merged:
                if reach[n] != merged | reach[n]:
                    reach[n] |= merged
                    changed = True
    for members in groups.values():
        for m in members:
            assert reach[m] == set(members)  # symmetric and transitive: exactly the component


def table(rows: list[tuple]) -> HashTable:
    """rows: (post_id, file_md5, pixel_sha256, phash, dhash, information, family)."""
    cols = list(zip(*rows))
    flip = np.array([int(h) ^ 0xFFFF for h in cols[3]], dtype=np.uint64)
    return HashTable(
        np.array(cols[0], np.int64),
        np.array(cols[1], object),
        np.array(cols[2], object),
        np.array(cols[3], np.uint64),
        np.array(cols[4], np.uint64),
        flip,
        np.array(cols[4], np.uint64),
        np.array(cols[5], np.float32),
        np.array(cols[6], np.int64),
    )


def test_edges_by_kind_with_known_answers():
    h = 0x0F0F_0F0F_1234_5678
    far = h ^ 0xFFFF_FFFF_0000_0000
    t = table(
        [
            (1, "a", "p1", h, h, 30.0, 1),
            (2, "a", "p1", h, h, 30.0, 2),  # same bytes as 1: exact
            (3, "b", "p1", h, h, 30.0, 3),  # other bytes, same pixels: pixels
            (4, "c", "p4", h ^ 0b111, h ^ 0b11, 30.0, 4),  # pHash 3 bits, dHash 2 bits away: perceptual
            (5, "d", "p5", h ^ 0b111, h ^ 0xFFFFFF, 30.0, 5),  # pHash close but dHash 24 bits away: no edge
            (6, "e", "p6", far, far, 30.0, 6),  # far away: no edge
            (7, "f", "p7", far ^ 1, far, 30.0, 6),  # close to 6 and 7's parent is 6: variant
            (8, "g", "p8", 0x1111, 0x1111, 0.5, 8),  # flat images: never matched by hash
            (9, "h", "p9", 0x1111, 0x1111, 0.5, 9),
        ]
    )
    edges = find_edges(t, Radii(phash=8, dhash=10), min_information=6.0)
    assert edges[(1, 2)] == ("exact", 0)
    assert edges[(1, 3)] == ("pixels", 0)  # same-value groups are joined as a star on their first member
    assert edges[(1, 4)] == ("perceptual", 3)
    assert edges[(6, 7)] == ("variant", 1)
    assert not any(5 in pair or 8 in pair or 9 in pair for pair in edges)
    assert all(a < b for a, b in edges)
    # just outside a radius of 2: pHashes 3 bits apart (1-4, 2-4, 3-4, and 5 too); inside it
    # but refused by the dHash check: 4-5 (the same pHash, dHashes 22 bits apart)
    misses = {(int(t.post_id[i]), int(t.post_id[j]), d) for i, j, d in hash_near_misses(t, Radii(phash=2), 6.0, extra=2)}
    assert misses == {(4, 5, 0), (1, 4, 3), (2, 4, 3), (3, 4, 3), (1, 5, 3), (2, 5, 3), (3, 5, 3)}
    sampled = {
        (int(t.post_id[i]), int(t.post_id[j]), d) for i, j, d in hash_near_misses(t, Radii(phash=2), 6.0, 2, max_queries=2)
    }
    assert sampled and sampled <= misses  # a large board searches a sample of its pictures: right pairs, fewer


def test_mirror_edges():
    h = 0x0123_4567_89AB_CDEF
    t = table([(1, "a", "p1", h, h, 30.0, 1), (2, "b", "p2", h ^ 0xFFFF, h, 30.0, 2)])  # 2 is 1's mirror image
    assert find_edges(t, Radii(phash=8, dhash=10), 6.0) == {(1, 2): ("mirror", 0)}


def test_dhash_confirms_loosely_only_a_near_identical_phash():
    h = 0x0F0F_0F0F_1234_5678
    eight_bits = 0xFF << 20
    t = table(
        [
            (1, "a", "p1", h, h, 30.0, 1),
            (2, "b", "p2", h ^ 0b11, h ^ eight_bits, 30.0, 2),  # pHash 2 away: dHash 8 away is enough
            (3, "c", "p3", h ^ 0b11111, h ^ eight_bits, 30.0, 3),  # pHash 5 away: dHash 8 away is not
            (4, "d", "p4", h ^ 0b11111, h ^ 0b111, 30.0, 4),  # pHash 5 away, dHash 3 away: a match
        ]
    )
    edges = find_edges(t, Radii(phash=7, dhash=6, close_phash=2, close_dhash=10), 6.0)
    # 2-3: pHash 3 away, same dHash; 3-4: same pHash but dHash 11 away; 2-4: pHash 3, dHash 11
    assert set(edges) == {(1, 2), (1, 4), (2, 3)}


def test_whitened_backgrounds_match_tighter_between_opaque_pictures():
    h = 0x0123_4567_89AB_CDEF
    far = [h ^ (0xFFFF << (16 * k)) for k in range(4)]  # plain hashes far apart: only the background signal
    bg, five_bits = 0x0F0F_F0F0_1234_5678, 0b11111
    t = table(
        [
            (1, "a", "p1", far[0], far[0], 30.0, 1),
            (2, "b", "p2", far[1], far[1], 30.0, 2),
            (3, "c", "p3", far[2], far[2], 30.0, 3),
        ]
    )
    t = dataclasses.replace(
        t,
        bg_phash=np.array([bg, bg ^ five_bits, bg ^ five_bits ^ (five_bits << 40)], np.uint64),
        bg_dhash=np.full(3, bg, np.uint64),
        has_alpha=np.array([True, False, False]),
        bg_information=np.full(3, 30.0, np.float32),
    )
    edges = find_edges(t, Radii(background=6, opaque_background=4), 6.0)
    assert edges == {(1, 2): ("background", 5)}  # transparent vs opaque at 5: yes; 2 vs 3, both opaque, at 5: no
    assert (2, 3) in find_edges(t, Radii(background=6, opaque_background=6), 6.0)


def edge_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EDGE_SCHEMA, orient="row")


def test_groups_and_representatives():
    edges = edge_frame([(1, 2, "exact", 0, None), (2, 3, "perceptual", 4, None), (5, 6, "variant", None, 0.97)])
    info = {
        1: (100, 5, 10, None),
        2: (400, 1, 3, None),
        3: (400, 9, 20, None),
        4: (10, 0, 0, None),
        5: (50, 0, 0, None),
        6: (60, 0, 0, 5),
    }
    groups = group_posts([1, 2, 3, 4, 5, 6], edges, DedupeConfig(variants_are_duplicates=False, representative="largest"), info)
    assert groups == {1: (2, False), 2: (2, True), 3: (2, False)}  # largest: 2 and 3 tie on size, lower id wins
    with_variants = group_posts([1, 2, 3, 4, 5, 6], edges, DedupeConfig(representative="parent"), info)
    assert with_variants[6] == (5, False) and with_variants[5] == (5, True)  # the parent stands for its child
    assert pick_representative([1, 2, 3], info, "score") == 3
    assert pick_representative([1, 2, 3], info, "most_tags") == 3
    assert 4 not in with_variants


def test_derivatives_join_groups_unless_told_not_to():
    """A region cut out of a picture shares its group by default (safer for splits); with
    ``derivatives_are_duplicates = false`` its edge stays in dup_edges and joins nothing."""
    edges = edge_frame([(1, 2, "derivative", None, 0.97), (3, 4, "cropped", None, 0.97)])
    info = {p: (100, 0, 0, None) for p in (1, 2, 3, 4)}
    together = group_posts([1, 2, 3, 4], edges, DedupeConfig(), info)
    assert together[1][0] == together[2][0] and together[3][0] == together[4][0]
    apart = group_posts([1, 2, 3, 4], edges, DedupeConfig(derivatives_are_duplicates=False), info)
    assert 1 not in apart and 2 not in apart and apart[3][0] == apart[4][0]


@pytest.mark.slow
def test_dedupe_stage_on_a_synthetic_board(board2021, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    set_config(ws, dedupe={"merge_tags": True})
    for stage in (ingest, select, run_images, run_embed):
        stage(ws)
    report = run_dedupe(ws)
    assert report.groups > 0 and report.edges.get("exact", 0) > 0 and report.edges.get("semantic", 0) > 0
    assert {"hash search", "embedding search", "keypoints", "grouping and tables"} <= set(report.seconds)
    assert all(s >= 0 for s in report.seconds.values()) and sum(report.seconds.values()) > 0
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    edges = con.execute("SELECT post_a, post_b, kind, distance, similarity FROM dup_edges").fetchall()
    assert all(a < b for a, b, *_ in edges)
    for _, _, kind, distance, similarity in edges:  # each edge says which signal made it
        assert distance is not None or similarity is not None
        assert (distance is None) != (similarity is None) or kind in ("aligned", "variant")  # aligned: proposed by hashes
        assert kind != "semantic" or similarity >= 0.9
        assert kind != "aligned" or similarity >= 0.95
    groups = con.execute("SELECT group_id, count(*), sum(is_representative::INT) FROM dup_groups GROUP BY 1").fetchall()
    assert all(n >= 2 and reps == 1 for _, n, reps in groups)
    out = pl.read_parquet(ws / "out" / "duplicates.parquet")
    assert out.columns == ["post_id", "group_id", "is_representative", "kinds"] and out.height == sum(n for _, n, _ in groups)
    sheets = sorted((ws / "out" / "duplicates").glob("group_*.png"))
    kinds_drawn = {p.stem.removeprefix("kind_") for p in (ws / "out" / "duplicates").glob("kind_*.png")}
    assert kinds_drawn >= {k for _, _, k, _, _ in edges} and "semantic" in kinds_drawn  # joined and refused pairs
    from PIL import Image

    with Image.open(ws / "out" / "duplicates" / "kind_semantic.png") as sheet:
        assert sheet.width == 160 * 2 * 3 and sheet.height > 2 * 160  # three pairs a row, two rows
    assert 0 < len(sheets) <= 20

    biggest = max(groups, key=lambda g: (g[1], -g[0]))
    with Image.open(ws / "out" / "duplicates" / f"group_{biggest[0]}.png") as sheet:
        assert sheet.width == 160 * biggest[1]  # one thumbnail per member
    merged = dict(
        ((p, t), n) for p, t, n in con.execute("SELECT post_id, tag_id, members_with_tag FROM dup_group_tags").fetchall()
    )
    expected: dict[tuple[int, int], int] = {}
    for gid, tag in con.execute("SELECT g.group_id, pt.tag_id FROM dup_groups g JOIN post_tags pt USING (post_id)").fetchall():
        expected[(gid, tag)] = expected.get((gid, tag), 0) + 1
    assert merged == expected and set(p for p, _ in merged) == {g for g, *_ in groups}
    scores = {s.kind: s for s in evaluate_dedupe(ws, board2021 / "truth")}
    assert scores["exact"].recall == 1.0 and scores["exact"].precision == 1.0
    # measured 1.000 / 1.000 on this board for every kind: any lost pair is a regression
    for kind, score in scores.items():
        assert score.precision >= 0.99 and score.recall >= 0.99, (kind, score)
    truth = pl.read_parquet(board2021 / "truth" / "duplicates.parquet")
    exact = truth.filter(pl.col("kind") == "exact")
    grouped = dict(con.execute("SELECT post_id, group_id FROM dup_groups").fetchall())
    considered = {r[0] for r in con.execute("SELECT post_id FROM images WHERE status IN ('ok', 'animated')").fetchall()}
    for post, source in exact.select("post_id", "source_post_id").iter_rows():
        if post in considered and source in considered:
            assert grouped[post] == grouped[source]
    by_signal = {
        sig: {s.kind: s for s in evaluate_dedupe(ws, board2021 / "truth", sig)} for sig in ("hashes", "embeddings", "both")
    }
    assert by_signal["both"]["all"].found == scores["all"].found  # rebuilt from dup_edges = what dedupe grouped
    for kind, both in by_signal["both"].items():  # the union of the signals finds what either finds
        assert both.found >= max(by_signal["hashes"][kind].found, by_signal["embeddings"][kind].found)
    assert by_signal["embeddings"]["all"].found > 0 and by_signal["both"]["all"].found > by_signal["hashes"]["all"].found
    estimates = con.execute("SELECT kind, precision_estimate FROM dup_edges").fetchall()
    assert all(0.0 < p <= 1.0 for _, p in estimates) and all(p == 1.0 for k, p in estimates if k == "exact")
    calibration = {e.kind: e for e in edge_calibration(ws, board2021 / "truth")}
    assert calibration["all"].edges == len(edges) and calibration["exact"].right == calibration["exact"].edges


def test_transparent_post_as_reposted_on_black_matches_the_copy():
    h = 0x0123_4567_89AB_CDEF
    far = [h ^ (0xFFFF << (16 * k)) for k in range(2)]
    t = table([(1, "a", "p1", far[0], far[0], 30.0, 1), (2, "b", "p2", far[1], far[1], 30.0, 2)])
    on_white, on_black = 0x0F0F_F0F0_1234_5678, 0x7777_0000_FFFF_1111
    t = dataclasses.replace(
        t,
        bg_phash=np.array([on_white, on_black ^ 0b11], np.uint64),
        bg_dhash=np.array([on_white, on_black], np.uint64),
        has_alpha=np.array([True, False]),
        bg_information=np.full(2, 30.0, np.float32),
        bg_black_phash=np.array([on_black, 0], np.uint64),
        bg_black_dhash=np.array([on_black, 0], np.uint64),
    )
    assert find_edges(t, Radii(), 6.0) == {(1, 2): ("background", 2)}
    assert find_edges(dataclasses.replace(t, bg_black_phash=None, bg_black_dhash=None), Radii(), 6.0) == {}


def test_near_flat_candidates_with_known_answers():
    """Pairs too flat for a hash edge are proposed for a pixel check when their hashes (or one's
    mirror) are within the radius; flat pictures below the floor and hash-judged pairs are not."""
    from curation.dedupe.edges import near_flat_candidates

    h = 0x0F0F_0F0F_1234_5678
    t = table(
        [
            (1, "a", "p1", h, h, 5.0, 1),
            (2, "b", "p2", h ^ 0b1, h, 5.0, 2),  # near-flat, 1 bit away from 1: proposed
            (3, "c", "p3", h ^ 0xFFFF, h, 5.0, 3),  # 3's pHash is the "mirror" of 1's (table() flips 16 bits)
            (4, "d", "p4", h, h, 1.0, 4),  # below the floor: never
            (5, "e", "p5", h ^ 0xF0F0_0000_0000, h, 30.0, 5),  # far from all
            (6, "f", "p6", h ^ 0b11, h, 30.0, 6),  # near 1; one side near-flat is enough
            (7, "g", "p7", h, h ^ 0b1111, 5.0, 7),  # same pHash as 1, dHash 4 bits away (padding moved it)
        ]
    )
    found = {
        (int(t.post_id[i]), int(t.post_id[j]), mirrored)
        for i, j, _, mirrored in near_flat_candidates(t, min_information=10.0, floor=2.0, radius=2, dhash_radius=2)
    }
    direct = {tuple(sorted(p[:2])) for p in found if not p[2]}
    assert direct == {(1, 2), (1, 6), (2, 6)}
    looser = {
        tuple(sorted((int(t.post_id[i]), int(t.post_id[j]))))
        for i, j, _, mirrored in near_flat_candidates(t, 10.0, 2.0, radius=2, dhash_radius=4)
        if not mirrored
    }
    assert looser == direct | {(1, 7), (2, 7), (6, 7)}
    assert {tuple(sorted(p[:2])) for p in found if p[2]} >= {(1, 3)}
    assert not any(4 in p[:2] or 5 in p[:2] for p in found)
    high = dataclasses.replace(t, information=np.full(7, 30.0, np.float32))
    assert near_flat_candidates(high, 10.0, 2.0, 2, 2) == []  # nothing near-flat: find_edges judges them all


def test_strongest_pairs_per_item():
    from curation.dedupe.semantic import strongest_per_item

    i = np.array([0, 0, 0, 1, 2, 3])
    j = np.array([1, 2, 3, 2, 3, 4])
    sim = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], np.float32)
    # k = 1: 0's best (0-1), 1's best (0-1), 2's best (0-2), 3's best (0-3), 4's only (3-4)
    assert strongest_per_item(i, j, sim, 1).tolist() == [True, True, True, False, False, True]
    assert strongest_per_item(i, j, sim, 3).all() and not strongest_per_item(i, j, sim, 0).any()


def test_alignment_candidates_with_known_answers():
    """Hashes that come near without matching are proposed for a pixel check: pHashes within
    the radius, and a transparent post's whitened background (or its on-black form) near an
    opaque post's; flat pictures never."""
    from curation.dedupe.edges import alignment_candidates

    h = 0x0F0F_0F0F_1234_5678
    t = table(
        [
            (1, "a", "p1", h, h, 30.0, 1),
            (2, "b", "p2", h ^ 0x3FF, h, 30.0, 2),  # 10 bits from 1: proposed at radius 12
            (3, "c", "p3", h ^ 0xFFFF_FFFF, h, 30.0, 3),  # 32 bits away: not by pHash
            (4, "d", "p4", h ^ 0x3FF, h, 1.0, 4),  # flat: never
        ]
    )
    bg = np.array([0, 0, 0x1111_2222_3333_4444, 0x1111_2222_3333_4444 ^ 0xFF], np.uint64)
    t = dataclasses.replace(
        t, bg_phash=bg, has_alpha=np.array([False, False, True, False]), bg_black_phash=np.zeros(4, np.uint64)
    )
    found = {(int(t.post_id[i]), int(t.post_id[j])): d for i, j, d in alignment_candidates(t, 6.0, 12, 12)}
    assert found[(1, 2)] == 10 and (1, 3) not in found and (2, 3) not in found
    assert not any(4 in pair for pair in found)  # post 4 is flat, though its background hash is near 3's
    t = dataclasses.replace(t, information=np.full(4, 30.0, np.float32))
    found = {tuple(sorted((int(t.post_id[i]), int(t.post_id[j])))): d for i, j, d in alignment_candidates(t, 6.0, 12, 12)}
    assert found[(3, 4)] == 8  # transparent 3's whitened background near opaque 4's
    assert alignment_candidates(t, 6.0, -1, -1) == []
    capped = {
        tuple(sorted((int(t.post_id[i]), int(t.post_id[j])))) for i, j, _ in alignment_candidates(t, 6.0, 12, 12, per_post=2)
    }
    assert capped == set(found)  # no post has more than 2 pairs: the cap changes nothing


def test_capped_radius_search_keeps_each_querys_closest():
    """A dense cluster of 200 look-alikes: uncapped, every pair within the radius (quadratic);
    capped, each query's k closest by (distance, index), so the output grows with the queries."""
    from curation.dedupe.search import radius_pairs

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2**63, 2000, dtype=np.int64).astype(np.uint64)
    codes[:200] = codes[0] ^ (np.uint64(1) << rng.integers(0, 64, 200).astype(np.uint64))
    i, j, d = radius_pairs(codes, codes, 4)
    ci, cj, cd = radius_pairs(codes, codes, 4, per_query=5)
    assert len(i) > 20_000 and len(ci) <= 5 * len(codes) and np.bincount(ci).max() == 5
    for q in range(0, 2000, 37):
        assert sorted(zip(cd[ci == q].tolist(), cj[ci == q].tolist())) == sorted(zip(d[i == q].tolist(), j[i == q].tolist()))[:5]


def test_alignment_candidates_for_padded_and_near_flat_copies():
    """A thumbnail less its flat margins is compared with the others' whole thumbnails; with a
    floor, a near-flat copy (padding made it so) pairs with an informative picture, never with
    another near-flat one."""
    from curation.dedupe.edges import alignment_candidates

    h, far = 0x0F0F_0F0F_1234_5678, 0x7777_0000_FFFF_1111
    t = table(
        [
            (1, "a", "p1", h, h, 30.0, 1),  # an original on grain
            (2, "b", "p2", far, far, 30.0, 2),  # its letterboxed copy: trimmed pHash far away
            (3, "c", "p3", h ^ 0b11, h, 5.0, 3),  # near-flat, 2 bits from 1
            (4, "d", "p4", h ^ 0b1, h, 5.0, 4),  # near-flat, 1 bit from 3 and from 1
        ]
    )
    t = dataclasses.replace(t, thumb_phash=t.phash.copy(), unpadded_phash=np.array([0, h ^ 0b1, 0, 0], np.uint64))
    pairs = lambda found: {tuple(sorted((int(t.post_id[i]), int(t.post_id[j])))) for i, j, _ in found}
    assert pairs(alignment_candidates(t, 10.0, 4, -1)) == {(1, 2)}  # 2 less its padding is 1 bit from 1's whole
    assert pairs(alignment_candidates(t, 10.0, 4, -1, floor=2.0)) == {(1, 2), (1, 3), (1, 4), (2, 3), (2, 4)}  # not (3, 4)
    assert pairs(alignment_candidates(t, 10.0, 4, -1, floor=6.0)) == {(1, 2)}  # below the floor: never


def test_moderators_keep_posts_apart_and_choose_representatives():
    edges = edge_frame([(1, 2, "exact", 0, None), (2, 3, "perceptual", 3, None), (1, 3, "perceptual", 4, None),
                        (4, 5, "exact", 0, None)])  # fmt: skip
    info = {p: (100, 0, 0, None) for p in range(1, 6)}
    cfg = DedupeConfig()
    plain = group_posts([1, 2, 3, 4, 5], edges, cfg, info)
    assert {p: g for p, (g, _) in plain.items()} == {1: 1, 2: 1, 3: 1, 4: 4, 5: 4}
    # 3 is not a duplicate of 1: the direct edge goes, and as 2 still joins them, 3 leaves the group
    apart = group_posts([1, 2, 3, 4, 5], edges, cfg, info, apart={(3, 1)}, chosen={5})
    assert apart == {1: (1, True), 2: (1, False), 4: (5, False), 5: (5, True)}


@pytest.mark.slow
def test_every_repost_kind_is_scored_and_wrongly_grouped_look_alikes_are_counted(tmp_path):
    from curation.evaluate.dedupe import evaluate_hard_negatives
    from curation.synth import generate_board

    board, ws = tmp_path / "board", tmp_path / "ws"
    generate_board(board, 260, seed=11, image_size=96, workers=1, reposts="all", duplicate_rate=0.3, hard_negative_rate=0.15)
    init_workspace(ws, [board])
    set_config(ws, embed={"image_size": 64}, select={"drop_deleted": False, "drop_banned": False})
    for stage in (ingest, select, run_images, run_embed, run_dedupe):
        stage(ws)
    truth = pl.read_parquet(board / "truth" / "duplicates.parquet")
    scores = {s.kind: s for s in evaluate_dedupe(ws, board / "truth")}
    assert set(scores) == (set(truth["kind"]) - {"original"}) | {"all"}
    assert scores["exact"].recall == 1.0 and scores["all"].precision >= 0.95
    for kind in ("rotate_90", "rotate_180"):  # turned thumbnails' pHashes, then their pixels
        assert scores[kind].recall == 1.0 and scores[kind].precision == 1.0, scores[kind]
    from click.testing import CliRunner

    from curation.cli import main

    shown = CliRunner().invoke(main, ["evaluate", "dedupe", str(ws), "--truth", str(board / "truth")], catch_exceptions=False)
    assert shown.exit_code == 0 and "edges by kind" in shown.output and "estimated" in shown.output
    strict = evaluate_dedupe(ws, board / "truth", min_precision=1.0)  # only exact and pixel copies are that sure
    assert next(s for s in strict if s.kind == "exact").recall == 1.0
    assert next(s for s in strict if s.kind == "all").found < scores["all"].found
    before = {n.kind: n for n in evaluate_hard_negatives(ws, board / "truth")}
    assert before["all"].pairs == sum(n.pairs for k, n in before.items() if k != "all") > 0
    with duckdb.connect(str(ws / "catalog.duckdb"), read_only=True) as con:
        linked = {post for pair in con.execute("SELECT post_a, post_b FROM dup_edges").fetchall() for post in pair}
        usable = {r[0] for r in con.execute("SELECT post_id FROM images WHERE status = 'ok'").fetchall()}
    negatives = pl.read_parquet(board / "truth" / "hard_negatives.parquet")
    p, q, kind = next(  # a look-alike pair that dedupe kept apart, neither post in any group: join them
        (p, q, k) for p, q, k in negatives.iter_rows() if {p, q} <= usable and not {p, q} & linked
    )
    with duckdb.connect(str(ws / "catalog.duckdb")) as con:
        con.execute("INSERT INTO dup_edges (post_a, post_b, kind, distance) VALUES (?, ?, 'exact', 0)", [min(p, q), max(p, q)])
    after = {n.kind: n for n in evaluate_hard_negatives(ws, board / "truth")}
    assert after[kind].grouped == before[kind].grouped + 1 and after["all"].grouped == before["all"].grouped + 1
    assert evaluate_hard_negatives(ws, tmp_path / "none") == []  # a board without look-alikes: nothing to say


def test_turned_reposts_pair_up_and_a_turned_other_picture_does_not(monkeypatch):
    """Known case: post 2 is post 1 turned a quarter, post 4 is post 1 upside down; post 3 is
    post 1 with a quarter of its blocks redrawn, turned a quarter: its pHash comes within the
    radius, its pixels do not agree (the hard negative)."""
    from PIL import Image

    import curation.dedupe.stage as stage_module
    from curation.config import DedupeConfig
    from curation.dedupe.align import Thumb
    from curation.dedupe.edges import turned_candidates
    from curation.dedupe.stage import Thumbnails, turned_edges
    from curation.images.hashing import thumbnail
    from curation.processes import LazyPool

    blocks = np.random.default_rng(4).integers(0, 255, (6, 8), dtype=np.uint8)
    redrawn, rng = blocks.copy(), np.random.default_rng(1)
    redrawn.flat[rng.choice(48, 12, replace=False)] = rng.integers(0, 255, 12)
    first = Image.fromarray(blocks).resize((128, 96), Image.Resampling.NEAREST)
    other = Image.fromarray(redrawn).resize((128, 96), Image.Resampling.NEAREST)
    pictures = [first, first.transpose(Image.Transpose.ROTATE_90), other.transpose(Image.Transpose.ROTATE_90)]
    pictures.append(first.transpose(Image.Transpose.ROTATE_180))
    made = [thumbnail(p.convert("RGB"), None) for p in pictures]

    class Remembered(PixelChecks):
        """Answers kept in memory, as pixel_checks keeps them between runs."""

        def known(self, keys):
            return {k: self._used[k] for k in keys if k in self._used}

    class Thumbs(Thumbnails):
        checks = Remembered(None)

        def __init__(self, workers: LazyPool | None = None) -> None:
            self.workers = workers or LazyPool(0)

        def of(self, rows):
            return {
                k: Thumb(np.frombuffer(made[k]["thumb"], np.uint8).reshape(-1, made[k]["thumb_width"]), None, *pictures[k].size)
                for k in set(rows)
            }

    table = thumbnail_table(
        made, turned_phash=np.array([[m[f"turned_phash_{d}"] for d in (90, 180, 270)] for m in made], np.uint64)
    )
    proposed = {tuple(sorted((i + 1, j + 1))) for i, j, _, _ in turned_candidates(table, 10.0, 10)}
    assert (1, 3) in proposed  # the look-alike is proposed ...
    edges = turned_edges(Thumbs(), table, DedupeConfig(), set())
    assert {(a, b) for a, b, *_ in edges} == {(1, 2), (1, 4), (2, 4)}  # ... and refused by its pixels
    assert all(kind == "rotated" and dist <= 2 and score >= 0.97 for _, _, kind, dist, score in edges)

    class Unread(Thumbs):
        def of(self, rows):
            raise AssertionError("a checked pair's thumbnails are read again")

    assert turned_edges(Unread(), table, DedupeConfig(), set()) == edges  # the next run takes the answers
    monkeypatch.setattr(stage_module, "ALIGN_BATCH", 1)  # a batch a pair: the checks go to worker processes
    with LazyPool(2) as workers:
        spread = Thumbs(workers)
        spread.checks = Remembered(None)
        assert turned_edges(spread, table, DedupeConfig(), set()) == edges
        assert workers._pool is not None


def _labelled(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"kind": pl.Utf8, "distance": pl.Int32, "similarity": pl.Float32, "right": pl.Boolean},
        orient="row",
    )


def test_edge_precision_calibration_with_a_known_answer(tmp_path):
    """Weak semantic edges right half the time, strong ones always; hash edges worse further out."""
    rows = [("semantic", None, 0.60 + 0.001 * n, n % 2 == 0) for n in range(80)]
    rows += [("semantic", None, 0.90 + 0.001 * n, True) for n in range(80)]
    rows += [("perceptual", d, None, d <= 2) for d in range(7) for _ in range(20)]
    rows += [("exact", 0, None, False)] * 3  # a synthetic truth's two posts that render alike: still one picture
    calibration = fit_calibration(_labelled(rows), band_edges=40, prior_edges=4.0)
    weak, strong = calibration.estimate("semantic", None, 0.62), calibration.estimate("semantic", None, 0.95)
    assert 0.45 <= weak <= 0.6 and strong >= 0.95
    assert calibration.estimate("semantic", None, 0.2) == weak  # below the first band: the first band's
    assert calibration.estimate("perceptual", 1, None) > 0.9 > calibration.estimate("perceptual", 5, None)
    assert calibration.estimate("exact", 0, None) == 1.0
    pooled = calibration.estimate("cropped", None, 0.99)  # no band of its own: every edge pooled
    assert pooled == pytest.approx((sum(r[3] for r in rows) + 1) / (len(rows) + 2), abs=1e-4)
    for kind in ("semantic", "perceptual"):  # never less likely right for a stronger edge
        values = [b.precision for b in calibration.bands if b.kind == kind]
        assert values == sorted(values) and len(values) >= 2
    calibration.write(tmp_path / "table.csv")
    again = read_calibration(tmp_path / "table.csv")
    assert [b.precision for b in again.bands] == [b.precision for b in calibration.bands]
    assert again.estimate("semantic", None, 0.62) == weak


def test_isotonic_bands_pool_a_weaker_band_that_looks_better():
    rows = [("aligned", None, 0.95 + 0.0001 * n, n < 36) for n in range(40)]  # 0.9 right
    rows += [("aligned", None, 0.97 + 0.0001 * n, n < 30) for n in range(40)]  # 0.75 right, though stronger
    rows += [("aligned", None, 0.99 + 0.0001 * n, True) for n in range(40)]
    bands = [b for b in fit_calibration(_labelled(rows), band_edges=40, prior_edges=0.0).bands if b.kind == "aligned"]
    assert [b.edges for b in bands] == [80, 40]  # the two pooled bands read as one
    assert bands[0].precision == pytest.approx(66 / 80, abs=1e-4) and bands[1].precision == 1.0


def test_min_precision_keeps_unlikely_edges_out_of_groups():
    edges = edge_frame([(1, 2, "exact", 0, None), (2, 3, "semantic", None, 0.63), (4, 5, "semantic", None, 0.99)])
    edges = edges.with_columns(pl.Series("precision_estimate", [1.0, 0.6, 0.999], dtype=pl.Float32))
    info = {p: (100, 0, 0, None) for p in range(1, 6)}
    everything = group_posts([1, 2, 3, 4, 5], edges, DedupeConfig(), info)
    assert set(everything) == {1, 2, 3, 4, 5}
    strict = group_posts([1, 2, 3, 4, 5], edges, DedupeConfig(min_precision=0.9), info)
    assert set(strict) == {1, 2, 4, 5} and strict[1][0] == strict[2][0] and strict[4][0] == strict[5][0]


def test_the_shipped_edge_precision_table_covers_the_kinds_dedupe_makes():
    from curation.dedupe.stage import DUPLICATE_KINDS

    calibration = shipped_calibration()
    kinds = {b.kind for b in calibration.bands}
    assert "*" in kinds and {"semantic", "aligned", "perceptual", "variant"} <= kinds
    assert set(DUPLICATE_KINDS) - {"exact", "pixels"} - kinds <= {
        "edited",
        "resized",
        "composite",
        "rotated",
        "cropped",
        "derivative",
    }
    for kind in kinds:
        values = [b.precision for b in calibration.bands if b.kind == kind]
        assert values == sorted(values) and all(0.0 < v <= 1.0 for v in values)
    assert isinstance(calibration, Calibration)


def test_closest_per_post_bounds_the_pairs_a_post_takes_part_in():
    """Four look-alikes all near each other: with k = 1 a pair stays only when it is the closest
    pair of one of its two pictures; the rest of each tuple rides along."""
    from curation.dedupe.stage import closest_per_post

    a, b, c, d = range(4)
    pairs = [(a, b, "x", 1), (a, c, "x", 2), (a, d, "x", 3), (b, c, "x", 4), (b, d, "x", 5), (c, d, "x", 6)]
    # closest of a: ab; of b: ab; of c: ac; of d: ad
    assert closest_per_post(pairs, 1) == [(a, b, "x", 1), (a, c, "x", 2), (a, d, "x", 3)]
    assert closest_per_post(pairs, 3) == pairs  # no picture has more than 3 pairs
    assert closest_per_post([], 1) == [] and closest_per_post(pairs, 0) == []


def test_the_closest_refused_pairs_leave_out_pairs_that_other_edges_group():
    from curation.dedupe.stage import SHEET_PAIRS, refused_pairs

    near = [
        (1, 2, "cropped", "0.4% differ", None),
        (3, 4, "cropped", "0.6% differ", None),
        (5, 6, "cropped", "0.9% differ", None),
    ]
    near += [(7, 8 + k, "semantic", None, 0.6 - k / 100) for k in range(SHEET_PAIRS + 2)]
    groups = {3: (3, True), 4: (3, False), 5: (5, True)}  # 3 and 4 grouped by other edges; 6 in no group
    misses = refused_pairs(near, linked={(1, 2)}, groups=groups)
    assert misses["cropped"] == [(5, 6, "cropped 0.9% differ")]
    assert [b for _, b, _ in misses["semantic"]] == [8 + k for k in range(SHEET_PAIRS)]  # closest first, at most SHEET_PAIRS
    assert misses["semantic"][0][2] == "semantic 0.600"


def test_near_flat_posts_get_keypoint_neighbours_among_every_post():
    """A near-flat post has no embedding edges, but its keypoints are matched against its nearest
    posts, faint or not; a post with information takes a near-flat one too when it comes nearer
    than its k-th nearest among the posts with information."""
    from curation.dedupe.semantic import build_index
    from curation.dedupe.stage import keypoint_neighbours

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 16)).astype(np.float32)
    faint = np.stack([vectors[2] + 0.05 * rng.normal(size=16), -vectors[0]]).astype(np.float32)  # near row 2; far from all
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    faint /= np.linalg.norm(faint, axis=1, keepdims=True)
    where, where_faint = np.arange(10, 16), np.array([20, 21])
    pairs = keypoint_neighbours(build_index(vectors)[0], vectors, where, faint, where_faint, 1)
    assert (20, 12) in pairs  # the faint copy and the post it is near
    assert (12, 20) in pairs  # and the other way: nearer to post 12 than any post with information
    # a post with information takes a near-flat one only when it is nearer than its k-th among themselves
    similar = vectors @ vectors.T
    np.fill_diagonal(similar, -np.inf)
    expected = {
        (int(where[q]), int(where_faint[f])) for q in range(6) for f in range(2) if faint[f] @ vectors[q] >= similar[q].max()
    }
    assert {(a, b) for a, b in pairs if a in where and b in where_faint} == expected
    assert all(b != 21 for a, b in pairs if a in where)  # the one far from every post is no post's neighbour
    assert {a for a, _ in pairs} == set(where) | set(where_faint)  # every post queried, k = 1


def test_a_child_redrawn_from_its_parent_is_a_variant_and_the_same_redraw_elsewhere_is_not(tmp_path):
    """Known case: post 2 is post 1 with a shape redrawn and is its child; post 3 is the same
    redraw with no parent. Keypoints map both onto post 1 and the thumbnails agree, but the
    files differ where the shape was redrawn: a near miss. Inside the family that is a
    ``variant`` edge (the pair is checked though no embedding proposed it); outside, a near miss."""
    from PIL import ImageDraw
    from test_align import thumb
    from test_keypoints import points, scene

    from curation.config import DedupeConfig
    from curation.dedupe.stage import Thumbnails, family_pairs, keypoint_edges
    from curation.images.hashing import WHITE
    from curation.processes import LazyPool

    parent = scene(1)
    child = parent.copy()
    ImageDraw.Draw(child).ellipse([100, 70, 150, 120], fill=(200, 30, 30), outline=(15, 15, 15), width=2)
    pictures = [parent, child, child]
    for k, picture in enumerate(pictures):
        picture.save(tmp_path / f"{k}.png")

    class Remembered(PixelChecks):
        def known(self, keys):
            return {}

        def add(self, key, score):
            pass

    class Files(Thumbnails):
        checks = Remembered(None)

        def __init__(self) -> None:
            self.workers = LazyPool(0)

        def of(self, rows):
            return {k: thumb(pictures[k]) for k in set(rows)}

        def keypoints_of(self, rows):
            return {k: points(pictures[k]) for k in set(rows)}

        def paths_of(self, rows):
            return {k: str(tmp_path / f"{k}.png") for k in set(rows)}

    n = len(pictures)
    t = HashTable(
        post_id=np.arange(1, n + 1),
        file_md5=np.array(["m0", "m1", "m2"], dtype=object),
        pixel_sha256=np.array(["s0", "s1", "s2"], dtype=object),
        phash=np.ones(n, np.uint64),
        dhash=np.ones(n, np.uint64),
        phash_mirror=np.ones(n, np.uint64),
        dhash_mirror=np.ones(n, np.uint64),
        information=np.full(n, 50.0, np.float32),
        family=np.array([1, 1, 3]),
    )
    assert family_pairs(t) == [(1, 0)]
    edges, near = keypoint_edges(Files(), t, [(0, 2)] + family_pairs(t), [], DedupeConfig(), WHITE)
    assert [(a, b, kind) for a, b, kind, *_ in edges] == [(1, 2, "variant")]
    assert [(a, b) for a, b, *_ in near] == [(1, 3)]


def test_a_region_cut_out_is_proposed_with_its_original_by_region_hashes():
    """The middle 60% of each side of a picture, or a corner keeping 3/4 of each side, reposted at
    its own scale: its whole pHash is far from its original's, but one of the original's region
    pHashes (a 3 x 3 grid, and the four corners) is near it, and
    region_candidates pairs the crop with its original (one pair a post, none between strangers
    at this radius)."""
    from test_keypoints import scene

    from curation.dedupe.edges import region_candidates, region_columns
    from curation.images.hashing import hamming, thumbnail

    pictures = [scene(seed, size=(320, 240)) for seed in (21, 22, 23, 24)]
    pictures.append(pictures[0].crop((64, 48, 256, 192)))  # row 4: a region of row 0
    pictures.append(pictures[1].crop((0, 60, 240, 240)))  # row 5: the bottom-left corner of row 1, 3/4 of each side
    made = [thumbnail(p, None) for p in pictures]
    for crop, original in ((4, 0), (5, 1)):
        assert hamming(made[crop]["thumb_phash"], made[original]["thumb_phash"]) > 16  # as a whole, another picture
    table = thumbnail_table(made, region_phash=region_columns([m["region_phashes"] for m in made]))
    found = region_candidates(table, 10.0, 8)
    assert [(i, j) for i, j, _ in found] == [(4, 0), (5, 1)]
    assert region_candidates(table, 10.0, -1) == []
    table.information[0] = 1.0  # a near-flat original takes no part
    assert [(i, j) for i, j, _ in region_candidates(table, 10.0, 8)] == [(5, 1)]


def thumbnail_table(made: list[dict], **columns) -> HashTable:
    """A HashTable of informative posts 1..n from :func:`~curation.images.hashing.thumbnail`
    outputs: their ``thumb_phash`` and the given columns; the other hashes all alike."""
    n = len(made)
    return HashTable(
        post_id=np.arange(1, n + 1),
        file_md5=np.array([f"m{k}" for k in range(n)], dtype=object),
        pixel_sha256=np.array([f"s{k}" for k in range(n)], dtype=object),
        phash=np.ones(n, np.uint64),
        dhash=np.ones(n, np.uint64),
        phash_mirror=np.ones(n, np.uint64),
        dhash_mirror=np.ones(n, np.uint64),
        information=np.full(n, 50.0, np.float32),
        family=np.arange(1, n + 1),
        thumb_phash=np.array([m["thumb_phash"] for m in made], np.uint64),
        **columns,
    )


def test_the_files_of_every_post_dedupe_compares_can_be_read_again(built_ws):
    """Dedupe compares animated posts (and transparent ones under ``drop_transparent``) with the
    rest; the checks that read two files again (keypoints, censored and flush copies) must find
    their paths too, or every such pair would go unjudged."""
    from types import SimpleNamespace

    from curation.catalog import open_catalog
    from curation.dedupe.stage import Thumbnails

    with open_catalog(built_ws, read_only=True) as cat:
        rows = cat.rows("SELECT file_md5, status FROM images WHERE status IN ('ok', 'animated', 'transparent')")
        assert {status for _, status in rows} >= {"ok", "animated"}
        t = SimpleNamespace(file_md5=np.array([md5 for md5, _ in rows], dtype=object))
        paths = Thumbnails(cat, t).paths_of(range(len(rows)))
    assert sorted(paths) == list(range(len(rows)))
    assert all(Path(path).is_file() for path in paths.values())


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_come_back_in_order_and_the_next_chunk_is_read_while_workers_check(monkeypatch, workers):
    """mapped() hands each batch back with its own answer, reads each chunk once, and with
    worker processes reads the next chunk before the first answers are taken: the workers
    have batches in hand while the catalog is read."""
    import curation.dedupe.stage as stage
    from curation.processes import LazyPool

    monkeypatch.setattr(stage, "ALIGN_CHUNK", 5)
    pairs = [(k, k + 100) for k in range(12)]
    events: list[tuple[str, int]] = []

    def load(chunk):
        events.append(("load", chunk[0][0]))
        return {i: 10 * i for i, _ in chunk}

    def task(batch, loaded):
        return ([loaded[i] for i, _ in batch],)  # max() of these, in a worker process

    with LazyPool(workers) as pool:
        for batch, answer in stage.mapped(pool, max, pairs, 2, load, task):
            assert answer == 10 * max(i for i, _ in batch)
            events.append(("answer", batch[0][0]))
    answered = [k for kind, k in events if kind == "answer"]
    assert answered == [0, 2, 4, 5, 7, 9, 10]  # batches of 2 within chunks of 5
    assert [k for kind, k in events if kind == "load"] == [0, 5, 10]
    first_answer = events.index(("answer", 0))
    if workers:
        assert events.index(("load", 5)) < first_answer
    else:
        assert events.index(("load", 5)) > events.index(("answer", 4))


def test_keypoint_candidates_take_each_posts_nearest_before_whitening_too(monkeypatch):
    """Whitening discounts what a board's pictures share, and a heavy crop can keep little else
    of its original: its original may be its nearest embedding yet far down its whitened list.
    Known answer from brute force: every post's PLAIN_NEIGHBOURS nearest unwhitened embeddings (on
    the whitening's unit directions) are keypoint candidates, among them pairs its whitened
    nearest leave out."""
    from curation.config import Config
    from curation.dedupe import stage
    from curation.dedupe.semantic import fit_whitening, whiten

    rng = np.random.default_rng(3)
    n, dim, k = 64, 24, 2
    style = 4 * rng.normal(size=(1, dim))  # what every picture of the board shares
    vectors = (rng.normal(size=(n, dim)) * np.linspace(3, 0.2, dim) + style).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    t = table([(p, f"m{p}", f"s{p}", 0, 0, 50.0, p) for p in range(n)])
    t = dataclasses.replace(t, has_alpha=np.zeros(n, bool))
    monkeypatch.setattr(stage, "load_vectors", lambda ws, cat, embedder, md5s: (np.ones(n, bool), vectors))
    config = Config(dedupe=DedupeConfig(whiten_dims=8, keypoint_neighbours=k, align=False))

    mean, projection = fit_whitening(vectors, 8)
    plain = vectors @ (projection / np.linalg.norm(projection, axis=0))  # unwhitened, on the main directions
    plain /= np.linalg.norm(plain, axis=1, keepdims=True)
    raw = plain @ plain.T
    np.fill_diagonal(raw, -np.inf)
    nearest = {(q, int(r)) for q in range(n) for r in np.argsort(-raw[q], kind="stable")[: stage.PLAIN_NEIGHBOURS]}
    white = whiten(vectors, mean, projection).astype(np.float32)
    similar = white @ white.T
    np.fill_diagonal(similar, -np.inf)
    whitened = {(q, int(r)) for q in range(n) for r in np.argsort(-similar[q], kind="stable")[:k]}
    assert nearest - whitened  # the case: nearest before whitening, not after

    _, _, neighbours, _ = stage.semantic_edges(Path("."), None, config, t)
    assert nearest <= set(neighbours)
    monkeypatch.setattr(stage, "PLAIN_NEIGHBOURS", 0)
    _, _, without, _ = stage.semantic_edges(Path("."), None, config, t)
    assert not (nearest - whitened) & set(without)
