"""Canonical post tags from dump tags: aliases, the implication closure, one row per (post, tag),
live-post counts; rows in any order and sparse tag ids give the same answer."""

from __future__ import annotations

import numpy as np
import pytest

from curation.catalog import Catalog
from curation.errors import SourceError
from curation.ingest import canonical
from curation.ingest.canonical import canonical_post_tags
from curation.ingest.kernels import group_runs

TAGS = {"fox": 1, "canine": 2, "canid": 3, "mammal": 4, "old_fox": 5, "solo": 6, "cat": 7, "felid": 8}


def make_catalog(dump: list[tuple[int, str]], removed: set[int], id_offset: int = 0) -> Catalog:
    cat = Catalog(None)
    cat.con.execute("CREATE TEMP TABLE tag_category_names (category_id INTEGER, category VARCHAR)")
    cat.con.executemany("INSERT INTO tags VALUES (?, ?, 0, NULL, 0)", [(i + id_offset, n) for n, i in TAGS.items()])
    cat.con.executemany("INSERT INTO tag_aliases VALUES (?, ?, ?)", [("old_fox", "fox", "active"), ("cat", "fox", "deleted")])
    cat.con.executemany(
        "INSERT INTO tag_implications VALUES (?, ?, ?)",
        [
            ("fox", "canine", "active"),
            ("canine", "canid", "active"),
            ("canid", "mammal", "active"),
            ("felid", "mammal", "active"),
            ("cat", "felid", "pending"),
        ],
    )
    posts = sorted({p for p, _ in dump})
    cat.con.executemany("INSERT INTO posts (post_id, is_removed) VALUES (?, ?)", [(p, p in removed) for p in posts])
    # one stored list per run of rows of one post: interleaved posts get several lists
    lists: list[tuple[int, list[int]]] = []
    for p, n in dump:
        if not lists or lists[-1][0] != p:
            lists.append((p, []))
        lists[-1][1].append(TAGS[n] + id_offset)
    if lists:
        cat.con.executemany("INSERT INTO dump_tags VALUES (?, ?)", lists)
    for step in ("marts/tag_canonical", "marts/alias_map", "marts/tag_implication_closure"):
        cat.run(step)
    return cat


DUMP = [  # interleaved posts, an aliased name next to its target, a tag both written and implied
    (10, "fox"),
    (20, "cat"),
    (10, "old_fox"),
    (30, "old_fox"),
    (20, "solo"),
    (10, "canid"),
    (30, "solo"),
    (10, "fox"),
]
EXPECTED = {
    10: {"fox": "dump", "canid": "dump", "canine": "implied", "mammal": "implied"},
    20: {"cat": "dump", "solo": "dump"},  # the alias and the implication of cat are not active
    30: {"fox": "dump", "solo": "dump", "canine": "implied", "canid": "implied", "mammal": "implied"},
}


@pytest.mark.parametrize("id_offset", [0, canonical.MAX_DIRECT_TAG_ID])
def test_canonical_tags_known_answer(id_offset):
    cat = make_catalog(DUMP, removed={30}, id_offset=id_offset)
    canonical_post_tags(cat)
    got: dict[int, dict[str, str]] = {}
    for post, name, origin in cat.rows("SELECT post_id, t.name, origin::VARCHAR FROM post_tags JOIN tags t USING (tag_id)"):
        assert name not in got.setdefault(post, {}), (post, name)
        got[post][name] = origin
    assert got == EXPECTED
    counts = dict(cat.rows("SELECT name, post_count FROM tags"))
    # post 30 is removed: its tags stay in post_tags but count for nobody
    assert counts == {"fox": 1, "canine": 1, "canid": 1, "mammal": 1, "old_fox": 0, "solo": 1, "cat": 1, "felid": 0}


def test_group_runs_collects_each_posts_runs():
    post_ids = np.array([7, 7, 3, 9, 3, 7, 9, 9, 1], np.int64)
    posts, run_bounds, post_runs, run_order = group_runs(post_ids)
    assert posts.tolist() == [7, 3, 9, 1]
    rows = [
        [i for q in range(post_runs[d], post_runs[d + 1]) for i in range(run_bounds[run_order[q]], run_bounds[run_order[q] + 1])]
        for d in range(len(posts))
    ]
    assert rows == [[0, 1, 5], [2, 4], [3, 6, 7], [8]]
    posts, run_bounds, post_runs, run_order = group_runs(np.array([5, 5, 2, 8, 8, 8], np.int64))
    assert posts.tolist() == [5, 2, 8] and run_bounds.tolist() == [0, 2, 3, 6] and run_order.tolist() == [0, 1, 2]
    posts, *_ = group_runs(np.zeros(0, np.int64))
    assert posts.size == 0


def test_random_board_matches_a_set_computation():
    rng = np.random.default_rng(0)
    names = list(TAGS)
    dump = [(int(p), names[int(t)]) for p, t in zip(rng.integers(0, 300, 3000), rng.integers(0, len(names), 3000))]
    rng.shuffle(dump)
    cat = make_catalog(dump, removed=set())
    canonical_post_tags(cat)
    alias = {"old_fox": "fox"}
    closure = {"fox": {"canine", "canid", "mammal"}, "canine": {"canid", "mammal"}, "canid": {"mammal"}, "felid": {"mammal"}}
    expected: dict[int, dict[str, str]] = {}
    for post, name in dump:
        expected.setdefault(post, {})[alias.get(name, name)] = "dump"
    for tags in expected.values():
        for name in [n for n in tags]:
            for implied in closure.get(name, ()):
                tags.setdefault(implied, "implied")
    got: dict[int, dict[str, str]] = {}
    for post, name, origin in cat.rows("SELECT post_id, t.name, origin::VARCHAR FROM post_tags JOIN tags t USING (tag_id)"):
        got.setdefault(post, {})[name] = origin
    assert got == expected
    assert cat.scalar("SELECT count(*) FROM post_tags") == sum(len(t) for t in expected.values())


def test_output_arrays_grow_when_implications_outnumber_the_dump_tags():
    """Each post writes one tag that implies three: four rows per input row, past the
    kernel's first guess of the output size."""
    cat = make_catalog([(p, "fox") for p in range(100)], removed=set())
    canonical_post_tags(cat)
    assert cat.scalar("SELECT count(*) FROM post_tags") == 400
    assert cat.rows("SELECT origin::VARCHAR, count(*) FROM post_tags GROUP BY 1 ORDER BY 1") == [("dump", 100), ("implied", 300)]
    assert dict(cat.rows("SELECT name, post_count FROM tags WHERE post_count > 0")) == {
        "fox": 100,
        "canine": 100,
        "canid": 100,
        "mammal": 100,
    }


def test_dump_held_in_memory_in_parts_gives_the_catalogs_answer():
    """A first ingest hands canonicalisation its dump tags as parts (one per Arrow chunk): the
    same rows and counts as reading dump_tags back, growth across an early return included."""
    rng = np.random.default_rng(1)
    names = list(TAGS)
    dump = [(int(p), names[int(t)]) for p, t in zip(rng.integers(0, 400, 4000), rng.integers(0, len(names), 4000))]
    dump.sort(key=lambda row: row[0])  # grouped by post, as the splitter leaves them
    cat = make_catalog(dump, removed={5, 17})
    canonical_post_tags(cat)
    query = "SELECT post_id, tag_id, origin::VARCHAR FROM post_tags ORDER BY ALL"
    from_catalog, counts = cat.rows(query), cat.rows("SELECT tag_id, post_count FROM tags ORDER BY 1")
    posts = np.array(sorted({p for p, _ in dump}), np.int64)
    per_post = np.array([sum(1 for p, _ in dump if p == q) for q in posts], np.int64)
    tag_ids = np.array([TAGS[n] for _, n in dump], np.int32)
    cut, row_cut = len(posts) // 3, int(per_post[: len(posts) // 3].sum())
    parts = [
        canonical.DumpTags(posts[:cut], per_post[:cut], tag_ids[:row_cut]),
        canonical.DumpTags(posts[cut:], per_post[cut:], tag_ids[row_cut:]),
    ]
    canonical_post_tags(cat, parts)
    assert cat.rows(query) == from_catalog
    assert cat.rows("SELECT tag_id, post_count FROM tags ORDER BY 1") == counts


def test_a_catalog_with_dump_tag_rows_migrates_to_lists(tmp_path):
    """Catalogs made before dump tags were lists (post_id, tag_id rows) are converted on open,
    each post's tags in their stored order, and canonicalise as before."""
    path = tmp_path / "catalog.duckdb"
    Catalog(path).close()
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("DROP TABLE dump_tags; CREATE TABLE dump_tags (post_id BIGINT, tag_id BIGINT)")
    con.execute("INSERT INTO dump_tags VALUES (10, 1), (20, 6), (10, 3), (10, 2)")
    con.close()
    cat = Catalog(path)
    assert not cat.has_column("dump_tags", "tag_id")
    assert cat.rows("SELECT post_id, tag_ids FROM dump_tags ORDER BY 1") == [(10, [1, 3, 2]), (20, [6])]
    cat.close()


def test_tag_ids_beyond_32_bits_are_refused_by_name():
    assert canonical.int32_tag_ids(np.array([0, 5, 2**31 - 1], np.int64)).dtype == np.int32
    with pytest.raises(SourceError, match="tag id 2147483648 is outside"):
        canonical.int32_tag_ids(np.array([7, 2**31], np.int64))
