"""Splits: stratification with known proportions, units that must stay together, leakage
counts with known answers, split files, and the stage on a synthetic board (no group or family
crosses, proportions, manifests, stability across an incremental dump)."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import duckdb
import numpy as np
import polars as pl
import pytest

from curation.config import SplitConfig
from curation.dedupe import run_dedupe
from curation.errors import ConfigError, CurationError
from curation.images import run_images
from curation.ingest import ingest
from curation.select import select
from curation.split import (
    PLAIN_ID_MOD,
    build_units,
    check_leakage,
    check_split,
    iterative_stratification,
    read_split_file,
    run_split,
    stable_fraction,
)
from curation.split.stage import assign_id_mod, assign_time
from curation.workspace import init_workspace


def test_stable_fraction_is_deterministic_uniform_and_seeded():
    keys = np.arange(20_000)
    a, b = stable_fraction(keys, 0), stable_fraction(keys, 0)
    assert np.array_equal(a, b) and ((a >= 0) & (a < 1)).all()
    assert abs(a.mean() - 0.5) < 0.01 and abs((a < 0.1).mean() - 0.1) < 0.01
    assert not np.array_equal(a, stable_fraction(keys, 1))
    assert np.array_equal(stable_fraction(keys[::-1], 0), a[::-1])  # a key's value ignores its position


def random_units(n_units: int, n_labels: int, seed: int):
    """Units of 1-3 posts with Zipf-distributed labels, as CSR arrays."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 1, 1, 2, 3], n_units)
    popularity = 1.0 / np.arange(1, n_labels + 1)
    indptr, labels, counts = [0], [], []
    for size in sizes:
        per_post = [
            set(rng.choice(n_labels, rng.integers(1, 5), replace=False, p=popularity / popularity.sum()).tolist())
            for _ in range(size)
        ]
        tally: dict[int, int] = {}
        for post in per_post:
            for label in post:
                tally[label] = tally.get(label, 0) + 1
        for label in sorted(tally):
            labels.append(label)
            counts.append(tally[label])
        indptr.append(len(labels))
    return sizes, np.array(indptr), np.array(labels), np.array(counts, dtype=float)


def label_shares(assigned, indptr, labels, counts, n_labels):
    per = np.zeros((n_labels, 3))
    for u, split in enumerate(assigned):
        np.add.at(per[:, split], labels[indptr[u] : indptr[u + 1]], counts[indptr[u] : indptr[u + 1]])
    return per, per / per.sum(axis=1, keepdims=True)


def test_iterative_stratification_keeps_every_label_in_proportion():
    sizes, indptr, labels, counts = random_units(3000, 60, seed=0)
    fractions = np.array([0.8, 0.1, 0.1])
    order = stable_fraction(np.arange(len(sizes)), 0)
    assigned = iterative_stratification(sizes, indptr, labels, counts, fractions, order)
    per, shares = label_shares(assigned, indptr, labels, counts, 60)
    posts = np.bincount(assigned, weights=sizes, minlength=3) / sizes.sum()
    assert np.abs(posts - fractions).max() < 0.01
    frequent = per.sum(axis=1) >= 10
    assert (per[frequent][:, 1:] > 0).all()  # every label with 10+ posts is in val and test
    stratified_error = np.abs(shares[frequent] - fractions).max(axis=1)
    # the same units dealt out at random, for comparison
    random_assigned = np.searchsorted(np.cumsum(fractions), order, side="right")
    _, random_shares = label_shares(random_assigned, indptr, labels, counts, 60)
    random_error = np.abs(random_shares[frequent] - fractions).max(axis=1)
    assert stratified_error.mean() < 0.5 * random_error.mean()
    assert (stratified_error <= np.maximum(0.03, 1.5 / per.sum(axis=1)[frequent])).all()


def test_iterative_stratification_with_prior_placements_restores_proportions():
    sizes, indptr, labels, counts = random_units(2000, 30, seed=1)
    fractions = np.array([0.8, 0.1, 0.1])
    order = stable_fraction(np.arange(2000), 3)
    old = np.arange(2000) < 1000  # an earlier run placed these, skewed 90/5/5
    old_split = np.searchsorted(np.cumsum([0.9, 0.05, 0.05]), order, side="right")
    prior_posts = np.bincount(old_split[old], weights=sizes[old], minlength=3)
    prior_labels = np.zeros((30, 3))
    for u in np.flatnonzero(old):
        prior_labels[labels[indptr[u] : indptr[u + 1]], old_split[u]] += counts[indptr[u] : indptr[u + 1]]
    new_sizes = np.where(old, 0, sizes)
    keep = np.repeat(~old, np.diff(indptr))
    new_indptr = np.concatenate([[0], np.cumsum(np.diff(indptr) * ~old)])
    assigned = iterative_stratification(
        new_sizes, new_indptr, labels[keep], counts[keep], fractions, order, prior_posts, prior_labels, 30
    )
    total = np.bincount(assigned[~old], weights=sizes[~old], minlength=3) + prior_posts
    assert np.abs(total / total.sum() - fractions).max() < 0.01
    per = prior_labels.copy()
    for u in np.flatnonzero(~old):
        per[labels[indptr[u] : indptr[u + 1]], assigned[u]] += counts[indptr[u] : indptr[u + 1]]
    frequent = per.sum(axis=1) >= 30
    before = np.abs(prior_labels[frequent] / prior_labels[frequent].sum(axis=1, keepdims=True) - fractions).max(axis=1)
    after = np.abs(per[frequent] / per[frequent].sum(axis=1, keepdims=True) - fractions).max(axis=1)
    assert after.mean() < 0.5 * before.mean()


def test_units_join_duplicates_families_and_artists():
    posts = [1, 2, 3, 4, 5, 6, 7, 8]
    parents = [None, None, 100, 100, None, None, None, 7]  # 3 and 4 are siblings of an unselected parent
    units = build_units(posts, parents, dup_groups=[(1, 10), (5, 10)], artists=[])
    assert units == {1: 1, 2: 2, 3: 3, 4: 3, 5: 1, 6: 6, 7: 7, 8: 7}
    with_artists = build_units(posts, parents, dup_groups=[], artists=[(2, 900), (6, 900)])
    assert with_artists[6] == 2 and with_artists[1] == 1


def test_leakage_counts_with_known_answers():
    split_of = {1: "train", 2: "val", 3: "train", 4: "train", 5: "test", 6: "test"}
    edges = [(1, 2, "exact"), (3, 4, "perceptual"), (5, 6, "semantic"), (1, 5, "semantic")]
    groups = [(1, 1), (2, 1), (5, 1), (6, 1), (3, 3), (4, 3)]
    parents = [(4, 3), (6, 2)]
    report = check_leakage(split_of, edges, groups, parents)
    assert report.crossing_edges == {"exact": 1, "semantic": 1}
    assert (report.groups, report.crossing_groups) == (2, 1)
    assert (report.families, report.crossing_families) == (2, 1)
    assert report.leaked_posts == 3  # 2, 5 and 6 sit beside a train post
    assert not report.clean
    assert check_leakage({1: "train", 2: "train"}, edges, groups, parents).clean


def test_split_files(tmp_path):
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "train.txt").write_text("1\n2\n")
    (folder / "val.txt").write_text("3\n\n")
    assert read_split_file(folder) == {1: "train", 2: "train", 3: "val"}
    pl.DataFrame({"post_id": [4, 5], "split": ["test", "train"]}).write_csv(tmp_path / "s.csv")
    assert read_split_file(tmp_path / "s.csv") == {4: "test", 5: "train"}
    (folder / "test.txt").write_text("7\nseven\n")
    with pytest.raises(CurationError, match=r"test.txt line 2: 'seven' is not a post id"):
        read_split_file(folder)
    pl.DataFrame({"id": [1]}).write_csv(tmp_path / "bad.csv")
    with pytest.raises(CurationError, match="needs columns post_id and split"):
        read_split_file(tmp_path / "bad.csv")


def test_id_mod_and_time_schemes():
    cfg = SplitConfig(scheme="id_mod_1000")
    assert assign_id_mod(np.array([5, 1899, 2950, 3920]), cfg).tolist() == ["train", "train", "val", "test"]
    cfg = SplitConfig(scheme="time", holdout_after=dt.date(2024, 1, 1), train=0.8, val=0.1, test=0.1)
    oldest = np.array(["2023-12-31T23:00", "2024-01-02", "2024-01-03"], dtype="datetime64[us]")
    assert assign_time(oldest, np.array([0.1, 0.2, 0.7]), cfg).tolist() == ["train", "val", "test"]
    with pytest.raises(ValueError, match="needs holdout_after"):
        SplitConfig(scheme="time")
    with pytest.raises(ValueError, match="must be 1"):
        SplitConfig(train=0.5, val=0.1, test=0.1)


def _run_to_dedupe(ws):
    for stage in (ingest, select, run_images, run_dedupe):
        stage(ws)


def _config(ws, extra: str) -> None:
    text = (ws / "curate.toml").read_text()
    text = text.replace("[dedupe]\n", "[dedupe]\nsemantic = false\n")  # hash groups are enough here
    (ws / "curate.toml").write_text(text.replace("[split]\n", f"[split]\n{extra}\n"))


@pytest.fixture(scope="module")
def incremental_board(board2021, tmp_path_factory):
    """A copy of the board whose posts file holds only the first 70% of the posts; the rest
    wait in `later.json`, to be added as a newer dump file."""
    root = tmp_path_factory.mktemp("split_board") / "board"
    shutil.copytree(board2021, root)
    files = sorted((root / "metadata").glob("posts*.json"))
    lines = [line for f in files for line in f.read_text().splitlines() if line.strip()]
    for f in files:
        f.unlink()
    cut = int(len(lines) * 0.7)
    (root / "metadata" / "posts000000000000.json").write_text("\n".join(lines[:cut]) + "\n")
    (root / "later.json").write_text("\n".join(lines[cut:]) + "\n")
    return root


@pytest.mark.slow
def test_split_stage_is_leak_free_proportional_and_stable(incremental_board, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, [incremental_board])
    _config(ws, "min_tag_posts = 10")
    _run_to_dedupe(ws)
    report = run_split(ws)
    assert report.leakage.clean and report.leakage.crossing_groups == 0 and report.leakage.crossing_families == 0
    assert report.leakage.groups > 0 and report.leakage.families > 0  # there was something to keep together
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    selected = {r[0] for r in con.execute("SELECT post_id FROM selection").fetchall()}
    first = dict(con.execute("SELECT post_id, split FROM splits").fetchall())
    con.close()
    assert set(first) == selected
    shares = np.array([report.posts[s] for s in ("train", "val", "test")]) / len(selected)
    assert np.abs(shares - [0.8, 0.1, 0.1]).max() < 0.06  # ~110 posts: a few posts either way
    assert report.coverage["val"] >= 0.9 and report.coverage["test"] >= 0.9

    out = ws / "out" / "splits"
    tags = pl.read_csv(out / "selected_tags.csv")
    assert tags.columns == ["tag_id", "name", "category", "count"] and tags["count"].is_sorted(descending=True)
    val = pl.read_parquet(out / "val.parquet")
    assert val.columns == ["post_id", "md5", "path", "width", "height", "rating", "tags", "tag_idx"]
    names = tags["name"].to_list()
    for row in val.iter_rows(named=True):
        assert [names[i] for i in row["tag_idx"]] == row["tags"]
    assert (out / "val.txt").read_text().splitlines() == val["path"].to_list()
    stats = pl.read_parquet(out / "tag_stats.parquet")
    assert (
        stats.filter(pl.col("count") >= 10)
        .select((pl.col("train") + pl.col("val") + pl.col("test") == pl.col("count")).all())
        .item()
    )

    # a newer dump file adds posts: every earlier post keeps its split unless its unit merged
    shutil.copy(incremental_board / "later.json", incremental_board / "metadata" / "posts000000000001.json")
    _run_to_dedupe(ws)
    again = run_split(ws)
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    second = dict(con.execute("SELECT post_id, split FROM splits").fetchall())
    con.close()
    assert len(second) > len(first)
    unchanged = sum(second.get(p) == s for p, s in first.items())
    assert again.kept == unchanged and again.kept + again.moved == len(first) and again.moved <= 0.02 * len(first)
    assert again.leakage.clean
    shares = np.array([again.posts[s] for s in ("train", "val", "test")]) / len(second)
    assert np.abs(shares - [0.8, 0.1, 0.1]).max() < 0.06  # ~110 posts: a few posts either way
    assert run_split(ws, reassign=True).kept == 0


@pytest.mark.slow
def test_check_shows_what_the_plain_id_mod_scheme_leaks(board2021, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    ids = sorted(
        int(m.group(1)) % 1000
        for f in (board2021 / "metadata").glob("posts*.json")
        for m in re.finditer(r'^\{"id": (\d+)', f.read_text(), re.M)
    )
    a, b = ids[int(0.7 * len(ids))], ids[int(0.85 * len(ids))]  # cut the board's own id range 70/15/15
    _config(
        ws, f'scheme = "id_mod_1000"\nid_mod_train = [[0, {a - 1}]]\nid_mod_val = [[{a}, {b - 1}]]\nid_mod_test = [[{b}, 999]]'
    )
    _run_to_dedupe(ws)
    ours = run_split(ws)
    _, plain = check_split(ws, PLAIN_ID_MOD)
    assert ours.leakage.clean
    assert not plain.clean and plain.leaked_posts > 0  # the synth board plants duplicates across id ranges
    _, current = check_split(ws)
    assert current.clean
    lists = tmp_path / "lists"
    lists.mkdir()
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    for split in ("train", "val", "test"):
        ids = [r[0] for r in con.execute("SELECT post_id FROM splits WHERE split = ?", [split]).fetchall()]
        (lists / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    con.close()
    assert check_split(ws, lists)[1].clean


def test_wrong_split_settings_are_config_errors(tmp_path, board2021):
    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    text = (ws / "curate.toml").read_text()
    (ws / "curate.toml").write_text(text.replace("[split]\n", "[split]\nid_mod_val = [[900, 1200]]\n"))
    with pytest.raises(ConfigError, match=r"\[split\] id_mod_val"):
        run_split(ws)
