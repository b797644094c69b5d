"""Select: each filter against a plain-Python reference on the same catalog, the audit, and
the three published recipes shipped in data/."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import duckdb
import pytest

from curation.errors import CurationError
from curation.ingest import ingest
from curation.select import select
from curation.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ingested(board2021, tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("sel") / "ws"
    init_workspace(ws, [board2021])
    ingest(ws)
    return ws


def with_select(ws: Path, select_toml: str) -> Path:
    text = (ws / "curate.toml").read_text()
    head = text[: text.index("[select]")]
    rest = text[text.index("[images]") :]
    (ws / "curate.toml").write_text(head + select_toml + "\n" + rest)
    return ws


class Reference:
    """The catalog's posts and canonical tags as Python objects, filtered by hand."""

    def __init__(self, ws: Path) -> None:
        con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
        cols = [
            "post_id",
            "created_at",
            "parent_id",
            "has_children",
            "is_deleted",
            "is_banned",
            "is_flagged",
            "is_pending",
            "rating",
            "file_ext",
            "image_width",
            "image_height",
        ]
        self.posts = {
            r[0]: dict(zip(cols, r)) for r in con.execute(f"SELECT {', '.join(cols)} FROM posts WHERE NOT is_removed").fetchall()
        }
        self.tags: dict[int, set[str]] = {pid: set() for pid in self.posts}
        for pid, name in con.execute("SELECT post_id, t.name FROM post_tags JOIN tags t USING (tag_id)").fetchall():
            if pid in self.tags:
                self.tags[pid].add(name)
        self.category = dict(con.execute("SELECT name, category FROM tags").fetchall())
        self.children = {p["parent_id"] for p in self.posts.values() if p["parent_id"] is not None}

    def keep(self, pred) -> set[int]:
        return {pid for pid, p in self.posts.items() if pred(p, self.tags[pid])}


FILTERS = {
    "created_range": (
        "created_after = 2012-01-01\ncreated_before = 2020-06-01",
        lambda p, t: dt.datetime(2012, 1, 1) <= p["created_at"] < dt.datetime(2020, 6, 1),
    ),
    "drop_children": ('parents = "drop_children"', lambda p, t: p["parent_id"] is None),
    "ratings": ('ratings = ["g", "q"]', lambda p, t: p["rating"] in ("g", "q")),
    "file_exts": ('file_exts = ["png", ".GIF"]', lambda p, t: p["file_ext"] in ("png", "gif")),
    "min_size": ("min_width = 120\nmin_height = 90", lambda p, t: p["image_width"] >= 120 and p["image_height"] >= 90),
    "require_tags": ('require_tags = ["solo", "longhair"]', lambda p, t: {"solo", "long_hair"} <= t),  # longhair: an alias
    "exclude_tags": ('exclude_tags = ["hat", "sky"]', lambda p, t: not ({"hat", "sky"} & t)),
    "id_mod_1000": (
        "id_mod_1000 = [[0, 99], [500, 599]]",
        lambda p, t: p["post_id"] % 1000 < 100 or 500 <= p["post_id"] % 1000 < 600,
    ),
}
NO_FLAGS = "drop_deleted = false\ndrop_banned = false\n"


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_matches_the_reference(ingested, name):
    toml, pred = FILTERS[name]
    ws = with_select(ingested, f"[select]\n{NO_FLAGS}{toml}\n")
    report = select(ws)
    ref = Reference(ws)
    expected = ref.keep(pred)
    got = {
        r[0]
        for r in duckdb.connect(str(ws / "catalog.duckdb"), read_only=True).execute("SELECT post_id FROM selection").fetchall()
    }
    assert got == expected
    assert 0 < len(got) < len(ref.posts), "the fixture board should make this filter matter"
    assert report.audit[-1].posts_after == len(expected)


def test_parentless_only_drops_parents_too(ingested):
    ws = with_select(ingested, f'[select]\n{NO_FLAGS}parents = "only_parentless"\n')
    select(ws)
    ref = Reference(ws)
    got = {
        r[0]
        for r in duckdb.connect(str(ws / "catalog.duckdb"), read_only=True).execute("SELECT post_id FROM selection").fetchall()
    }
    assert got == ref.keep(lambda p, t: p["parent_id"] is None and p["post_id"] not in ref.children and not p["has_children"])


def test_flags_audit_and_sample(ingested):
    ws = with_select(
        ingested,
        "[select]\ndrop_deleted = true\ndrop_banned = true\ndrop_flagged = true\nsample_fraction = 0.5\nsample_seed = 7\n",
    )
    report = select(ws)
    steps = [a.step for a in report.audit]
    assert steps == ["all live posts", "drop deleted", "drop banned", "drop flagged", "sample 0.5 (seed 7)"]
    for prev, cur in zip(report.audit, report.audit[1:]):
        assert cur.posts_before == prev.posts_after and cur.posts_after <= cur.posts_before
    ref = Reference(ws)
    flagged = ref.keep(lambda p, t: not (p["is_deleted"] or p["is_banned"] or p["is_flagged"]))
    assert report.audit[3].posts_after == len(flagged)
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    first = {r[0] for r in con.execute("SELECT post_id FROM selection").fetchall()}
    assert first <= flagged and 0.3 * len(flagged) < len(first) < 0.7 * len(flagged)
    audit = con.execute("SELECT step, posts_before, posts_after FROM select_audit").fetchall()
    assert [a[0] for a in audit] == steps
    con.close()
    select(ws)  # same seed, same sample
    again = {
        r[0]
        for r in duckdb.connect(str(ws / "catalog.duckdb"), read_only=True).execute("SELECT post_id FROM selection").fetchall()
    }
    assert again == first


def test_label_tags_by_category_count_top_n_and_lists(ingested, tmp_path):
    blacklist = tmp_path / "blacklist.txt"
    blacklist.write_text("# dropped\nsimple_background\n\nsky\n")
    ws = with_select(
        ingested,
        f'[select]\n{NO_FLAGS}categories = ["general"]\nmin_tag_count = 5\ntop_n_tags = 30\n'
        f'drop_tags = ["solo"]\ntag_list_files = ["{blacklist}"]\n',
    )
    report = select(ws)
    ref = Reference(ws)
    counts: dict[str, int] = {}
    for tags in ref.tags.values():
        for t in tags:
            if ref.category[t] == "general" and t not in ("solo", "simple_background", "sky"):
                counts[t] = counts.get(t, 0) + 1
    ranked = sorted(((n, t) for t, n in counts.items() if n >= 5), key=lambda x: (-x[0], x[1]))[:30]
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    got = con.execute("SELECT name, count, category FROM selected_tags ORDER BY count DESC, name").fetchall()
    assert [(g[0], g[1]) for g in got] == [(t, n) for n, t in ranked]
    assert {g[2] for g in got} == {"general"} and report.tags == 30


def test_tags_per_post_bounds(ingested):
    ws = with_select(
        ingested,
        f'[select]\n{NO_FLAGS}categories = ["general"]\nmin_tag_count = 3\nmin_tags_per_post = 8\nmax_tags_per_post = 20\n',
    )
    select(ws)
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    labels = {r[0] for r in con.execute("SELECT name FROM selected_tags").fetchall()}
    ref = Reference(ws)
    expected = ref.keep(lambda p, t: 8 <= len(t & labels) <= 20)
    assert {r[0] for r in con.execute("SELECT post_id FROM selection").fetchall()} == expected


def test_select_needs_an_ingested_catalog(tmp_path, board2021):
    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    with pytest.raises(CurationError, match=r"the catalog has no posts yet; run `curate ingest .*` first"):
        select(ws)


@pytest.fixture(scope="module")
def big_boards(tmp_path_factory) -> dict[str, Path]:
    """20,000-post boards without images: enough posts for the recipes' real thresholds."""
    from curation.synth import generate_board

    out = {}
    for fmt in ("danbooru2021", "e621"):
        board = tmp_path_factory.mktemp(f"big_{fmt}")
        generate_board(board, 20_000, seed=11, fmt=fmt, images=False)
        ws = board / "ws"
        init_workspace(ws, [board])
        ingest(ws)
        out[fmt] = ws
    return out


def recipe(name: str) -> str:
    text = (ROOT / "data" / name).read_text()
    tomllib.loads(text)
    return text


@pytest.mark.slow
def test_recipe_danbooru_1girl_solo(big_boards):
    ws = with_select(big_boards["danbooru2021"], recipe("select_danbooru_1girl_solo.toml"))
    report = select(ws)
    ref = Reference(ws)
    posts = ref.keep(
        lambda p, t: (
            p["created_at"] >= dt.datetime(2010, 1, 1)
            and {"1girl", "solo"} <= t
            and p["parent_id"] is None
            and not p["is_deleted"]
            and not p["is_banned"]
        )
    )
    counts: dict[str, int] = {}
    for pid in posts:
        for t in ref.tags[pid]:
            if ref.category[t] == "general" and t not in ("1girl", "solo", "breasts"):
                counts[t] = counts.get(t, 0) + 1
    labels = {t for t, n in counts.items() if n > 600}
    final = {pid for pid in posts if len(ref.tags[pid] & labels) > 10}
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    assert {r[0] for r in con.execute("SELECT name FROM selected_tags").fetchall()} == labels
    assert {r[0] for r in con.execute("SELECT post_id FROM selection").fetchall()} == final
    assert len(labels) >= 10 and len(final) >= 100 and report.posts == len(final)


@pytest.mark.slow
def test_recipe_e621_frequent(big_boards):
    ws = with_select(big_boards["e621"], recipe("select_e621_frequent.toml"))
    select(ws)
    ref = Reference(ws)
    live = ref.keep(lambda p, t: not p["is_deleted"])
    counts: dict[str, int] = {}
    for pid in live:
        for t in ref.tags[pid]:
            counts[t] = counts.get(t, 0) + 1
    expected = {t for t, n in counts.items() if n > 500 and ref.category[t] not in ("artist", "character")}
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    got = dict(con.execute("SELECT name, category FROM selected_tags").fetchall())
    assert set(got) == expected and "species" in set(got.values())
    assert not {"artist", "character"} & set(got.values())


@pytest.mark.slow
def test_recipe_danbooru_gcc200(big_boards):
    ws = with_select(big_boards["danbooru2021"], recipe("select_danbooru_gcc200.toml"))
    select(ws)
    ref = Reference(ws)
    live = ref.keep(lambda p, t: not p["is_deleted"] and not p["is_banned"])
    counts: dict[str, int] = {}
    for pid in live:
        for t in ref.tags[pid]:
            if ref.category[t] in ("general", "copyright", "character"):
                counts[t] = counts.get(t, 0) + 1
    labels = {t for t, n in counts.items() if n >= 200}
    final = {pid for pid in live if len(ref.tags[pid] & labels) >= 15}
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    assert {r[0] for r in con.execute("SELECT name FROM selected_tags").fetchall()} == labels
    assert {r[0] for r in con.execute("SELECT post_id FROM selection").fetchall()} == final
    assert {"general", "copyright", "character"} == {ref.category[t] for t in labels}
    assert len(final) > 1000
