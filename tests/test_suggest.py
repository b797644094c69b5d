"""Suggestions: cleanlab finds planted flips in one tag, implications shape what is suggested,
ranking metrics with known answers, and the stage on a synthetic board with an oracle tagger
(schema-valid outputs, planted noise found, decisions that persist and change the labels)."""

from __future__ import annotations

import json

import duckdb
import jsonschema
import numpy as np
import polars as pl
import pytest
import sqlite_utils

from curation.catalog import sql_text
from curation.config import SuggestConfig
from curation.errors import CurationError
from curation.evaluate.suggest import evaluate_suggestions, oracle_predictions, ranked_scores
from curation.images import run_images
from curation.ingest import ingest
from curation.select import select
from curation.suggest import Suggestion, apply_implications, interleave, load_suggestions, review, run_suggest
from curation.suggest.calibrate import Calibration, tag_evidence, with_feedback
from curation.suggest.detect import tag_issues
from curation.suggest.relations import against_group_consensus
from curation.suggest.stage import SCHEMA
from curation.tagger.external import import_predictions
from curation.workspace import init_workspace


def test_cleanlab_flags_planted_flips_in_one_tag():
    rng = np.random.default_rng(0)
    truth = rng.random(2000) < 0.3
    p = np.where(truth, rng.beta(8, 2, 2000), rng.beta(2, 8, 2000))
    y = truth.copy()
    missing, wrong = np.flatnonzero(truth)[:20], np.flatnonzero(~truth)[:20]
    y[missing], y[wrong] = False, True
    rows, is_add, quality = tag_issues(y, p, SuggestConfig().cleanlab_filter)
    found = set(rows.tolist())
    assert len(found & set(missing.tolist())) >= 16 and len(found & set(wrong.tolist())) >= 16
    assert (is_add == ~y[rows]).all()
    assert (np.diff(quality) >= 0).all()  # lowest label quality first
    # one class only: nothing to learn
    assert (
        len(tag_issues(np.zeros(10, bool), np.full(10, 0.9), "predicted_neq_given")[0]) == 0
    )  # one class only: nothing to learn


def s(post, tag, action, precision=0.9, quality=0.1):
    return Suggestion(post, tag, action, 0.5, quality, precision)


def noisy_tag(separation: tuple[float, float], n=20_000, missing=0.2, wrong=0.02, seed=0, jitter=0.0, sure=0.0):
    """One tag with class-conditional label noise and a calibrated tagger: each post's chance of
    truly having the tag is s ~ Beta(separation), or for a share ``sure`` of posts exactly 0 or 1;
    the tagger outputs P(labelled | s), plus ``jitter``."""
    rng = np.random.default_rng(seed)
    chance = rng.beta(*separation, n)
    certain = rng.random(n) < sure
    chance[certain] = (chance[certain] > 0.5).astype(float)
    truth = rng.random(n) < chance
    labels = np.where(truth, rng.random(n) >= missing, rng.random(n) < wrong)
    p = np.clip(chance * (1 - missing) + (1 - chance) * wrong + rng.normal(0, jitter, n), 0, 1)
    return truth, labels, p


def test_precision_estimates_match_how_often_suggestions_are_right():
    # the known-answer case: the tagger is sure of some posts each way (where the noise rates are read)
    truth, labels, p = noisy_tag((0.3, 0.7), n=100_000, wrong=0.02, sure=0.5)
    calibration = Calibration({"t": tag_evidence(labels, p)})
    curve = calibration.curves["t"]
    assert curve.missing_rate == pytest.approx(0.2, abs=0.06) and curve.wrong_rate == pytest.approx(0.02, abs=0.01)
    for action, pool, right in (("add", ~labels, truth), ("remove", labels, ~truth)):
        estimate = calibration.precision("t", action, p[pool])
        confident = estimate >= 0.3
        assert confident.sum() > 100
        # the estimate tracks the truth: on the suggestions it would show, estimated and real precision agree
        for band in (estimate < 0.3, (estimate >= 0.3) & (estimate < 0.7), estimate >= 0.7):
            assert estimate[band].mean() == pytest.approx(right[pool][band].mean(), abs=0.08)
        order = np.argsort(-estimate)  # and ranking by it puts the right ones first
        assert right[pool][order[:200]].mean() > 3 * right[pool].mean()


def test_a_rare_tag_borrows_its_frequency_band_curve():
    rng = np.random.default_rng(1)
    p = rng.random(5000)
    lonely = np.zeros(5000, bool)
    lonely[np.argsort(p)[:6]] = True  # six labelled posts where the tagger is surest they lack it
    peers = {}
    for i in range(6):  # tags of the same band that the tagger knows: their labelled posts score high
        y = np.zeros(5000, bool)
        y[rng.choice(np.argsort(-p)[:40], 8, replace=False)] = True
        peers[f"peer{i}"] = tag_evidence(y, p)
    alone = Calibration({"lonely": tag_evidence(lonely, p)}).curves["lonely"]
    pooled = Calibration({"lonely": tag_evidence(lonely, p), **peers}).curves["lonely"]
    band = Calibration(peers).curves["peer0"]
    top = np.array([0.99])
    alone_q, pooled_q, band_q = (c.labelled_probability(top)[0] for c in (alone, pooled, band))
    assert abs(pooled_q - band_q) < abs(alone_q - band_q) / 2


def test_moderators_verdicts_correct_a_precision_estimate():
    assert with_feedback(0.6, 0, 0) == 0.6
    assert with_feedback(0.9, 0, 10) == pytest.approx(0.45)  # ten verdicts move it half way
    assert with_feedback(0.5, 30, 0) > 0.85


def test_implications_shape_the_suggestions():
    parents = {"fox": {"canine", "mammal"}, "canine": {"mammal"}, "cat_ears": {"animal_ears"}}
    post_tags = {1: {"mammal", "red_hair"}, 2: {"fox", "canine", "mammal"}, 3: {"cat_ears", "animal_ears"}}
    kept = apply_implications(
        [
            s(1, "fox", "add"),
            s(1, "canine", "add"),
            s(1, "red_hair", "add"),  # red_hair already there
            s(2, "canine", "remove"),  # implied by fox, which stays: dropped
            s(3, "animal_ears", "remove"),
            s(3, "cat_ears", "remove"),  # both go: kept
        ],
        post_tags,
        parents,
    )
    got = {(x.post_id, x.tag, x.action): x.implies for x in kept}
    assert got == {(1, "fox", "add"): ["canine"], (3, "animal_ears", "remove"): [], (3, "cat_ears", "remove"): []}


def test_the_queue_interleaves_tags_and_posts_by_precision():
    one_tag = [s(i, "solo", "add", 0.99 - i / 1000) for i in range(10)]
    others = [s(100 + i, f"tag{i}", "add", 0.8 - i / 100) for i in range(4)]
    ranked = interleave(one_tag + others, per_tag=3, per_post=2)
    assert [x.tag for x in ranked[:7]] == ["solo"] * 3 + ["tag0", "tag1", "tag2", "tag3"]
    assert [x.post_id for x in ranked[7:10]] == [3, 4, 5]  # solo's second round, still by precision
    assert len(ranked) == 14 and len(interleave(one_tag + others, 3, 2, budget=5)) == 5
    busy_post = [s(1, f"t{i}", "add", 0.9 - i / 100) for i in range(4)] + [s(2, "x", "add", 0.5)]
    assert [(x.post_id, x.tag) for x in interleave(busy_post, per_tag=10, per_post=2)][:3] == [(1, "t0"), (1, "t1"), (2, "x")]


def test_a_removal_the_duplicate_group_contradicts_is_dropped():
    remove, add = s(1, "smile", "remove"), s(1, "smile", "add")
    assert against_group_consensus(remove, mates=2, carrying=1)  # half the copies carry it
    assert not against_group_consensus(remove, mates=3, carrying=1)
    assert not against_group_consensus(remove, mates=0, carrying=0)  # not in a group
    assert not against_group_consensus(add, mates=2, carrying=0)


def test_ranking_metrics():
    precision_at, ap = ranked_scores(np.array([True, False, True, False]), planted=4, ks=(1, 2))
    assert precision_at == {1: 1.0, 2: 0.5} and ap == pytest.approx((1 + 2 / 3) / 4)


@pytest.fixture(scope="module")
def oracle_ws(board2021, tmp_path_factory):
    """The board with an oracle tagger (the truth, blurred) registered: suggestions are then
    limited by the method, not by a tagger."""
    root = tmp_path_factory.mktemp("suggest")
    ws = root / "ws"
    init_workspace(ws, [board2021])
    text = (ws / "curate.toml").read_text()
    text = text.replace("[select]\n", "[select]\nmin_tag_count = 5\n")
    (ws / "curate.toml").write_text(
        text.replace(
            "[suggest]\n", '[suggest]\ntagger = "imported:oracle"\nmin_tag_posts = 5\ncleanlab_filter = "predicted_neq_given"\n'
        )
    )
    for stage in (ingest, select, run_images):
        stage(ws)
    path = oracle_predictions(ws, board2021 / "truth", root / "oracle.parquet", strength=12)
    import_predictions(ws, path, path.with_suffix(".tags.csv"))
    return ws


@pytest.mark.slow
def test_suggest_stage_outputs_and_finds_the_planted_noise(oracle_ws, board2021):
    report = run_suggest(oracle_ws)
    assert report.suggestions > 0 and report.adds > 0 and report.removes > 0
    document = json.loads((oracle_ws / "out" / "suggestions.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["model"]["name"] == "imported:oracle" and [x["rank"] for x in document["suggestions"]] == list(
        range(1, report.suggestions + 1)
    )
    incomplete = json.loads((oracle_ws / "out" / "incomplete_posts.json").read_text())
    adds = {(x["post_id"], x["tag"]) for x in document["suggestions"] if x["action"] == "add"}
    assert {(p, t) for t, posts in incomplete.items() for p in posts} == adds
    db = sqlite_utils.Database(oracle_ws / "out" / "review.sqlite")
    assert (
        set(db.table_names()) >= {"suggestions", "posts", "tags", "decisions"} and db["suggestions"].count == report.suggestions
    )
    floors = {"add": SuggestConfig().min_precision_add, "remove": SuggestConfig().min_precision_remove}
    estimates = [x["precision_estimate"] for x in document["suggestions"]]
    assert all(x["precision_estimate"] >= floors[x["action"]] for x in document["suggestions"])
    assert estimates[:20] == sorted(estimates[:20], reverse=True)  # the first round is ranked by the estimate
    scores = {(x.action, x.band): x for x in evaluate_suggestions(oracle_ws, board2021 / "truth")}
    for action, least in (("add", 0.5), ("remove", 0.8)):  # a 146-post board: few posts to calibrate on
        assert scores[(action, "all")].planted > 0
        assert scores[(action, "all")].average_precision >= least and scores[(action, "all")].precision_at[10] >= 0.9


@pytest.mark.slow
def test_decisions_persist_and_change_the_labels(oracle_ws):
    run_suggest(oracle_ws)
    current = load_suggestions(oracle_ws)
    add = current.filter(current["action"] == "add").row(0, named=True)
    remove = current.filter(current["action"] == "remove").row(0, named=True)
    rejected = next(r for r in current.iter_rows(named=True) if r not in (add, remove))  # a third suggestion
    recorded, edits = review(
        oracle_ws,
        accept=[f"{add['post_id']}:{add['tag']}", f"{remove['post_id']}:{remove['tag']}:remove"],
        reject=[f"{rejected['post_id']}:{rejected['tag']}"],
        moderator="alice",
    )
    assert recorded == 3 and edits.read_text().count("alice") == 2
    suggested_for_add_post = set(current.filter(current["post_id"] == add["post_id"])["tag"])
    other_tag = next(t for t in current["tag"] if t not in suggested_for_add_post)
    with pytest.raises(CurationError, match="no current suggestion"):
        review(oracle_ws, accept=[f"{add['post_id']}:{other_tag}"], reject=[], moderator="alice")
    with pytest.raises(CurationError, match="no post 999999999 in the catalog"):
        review(oracle_ws, accept=[f"999999999:{add['tag']}:add"], reject=[], moderator="alice")
    with pytest.raises(CurationError, match="no tag 'never_a_tag' in the catalog"):
        review(oracle_ws, accept=[f"{add['post_id']}:never_a_tag:add"], reject=[], moderator="alice")
    # a moderator's row written straight into review.sqlite counts too
    fourth = next(r for r in current.iter_rows(named=True) if r not in (add, remove, rejected))
    db = sqlite_utils.Database(oracle_ws / "out" / "review.sqlite")
    db["decisions"].insert(
        {
            "post_id": fourth["post_id"],
            "tag": fourth["tag"],
            "action": fourth["action"],
            "decision": "reject",
            "moderator": "bob",
            "decided_at": "2026-01-01T00:00:00",
            "note": "",
        }
    )
    db.close()
    report = run_suggest(oracle_ws)
    assert report.decisions_imported == 1
    again = {(r["post_id"], r["tag"], r["action"]) for r in load_suggestions(oracle_ws).iter_rows(named=True)}
    for row in (add, remove, rejected, fourth):
        assert (row["post_id"], row["tag"], row["action"]) not in again
    # an accepted add is never suggested for removal there, nor an accepted remove for adding back
    assert (add["post_id"], add["tag"], "remove") not in again and (remove["post_id"], remove["tag"], "add") not in again
    con = duckdb.connect(str(oracle_ws / "catalog.duckdb"), read_only=True)
    con.execute(sql_text("marts/post_labels"))  # the labels training reads, with decisions applied
    labels = set(con.execute("SELECT post_id, t.name FROM post_labels JOIN tags t USING (tag_id)").fetchall())
    decisions = con.execute("SELECT count(*) FROM decisions").fetchall()[0][0]
    con.close()
    assert (add["post_id"], add["tag"]) in labels and (remove["post_id"], remove["tag"]) not in labels
    assert decisions == 4
    sqlite = sqlite_utils.Database(oracle_ws / "out" / "review.sqlite")
    assert sqlite["decisions"].count == 4  # rewritten from the journal, the record


def test_unknown_tagger_is_a_clear_error(oracle_ws):
    text = (oracle_ws / "curate.toml").read_text()
    (oracle_ws / "curate.toml").write_text(text.replace('tagger = "imported:oracle"', 'tagger = "nope"'))
    try:
        with pytest.raises(CurationError, match="no predictions from tagger 'nope'; known: imported:oracle"):
            run_suggest(oracle_ws)
    finally:
        (oracle_ws / "curate.toml").write_text(text)


def test_moderators_feedback_moves_a_tag_up_or_down_the_queue():
    liked = s(1, "liked", "add", with_feedback(0.6, 18, 1))
    plain = s(2, "plain", "add", 0.8)
    disliked = s(3, "disliked", "add", with_feedback(0.95, 0, 8))
    ranked = interleave([plain, disliked, liked], per_tag=10, per_post=10)
    assert [x.tag for x in ranked] == ["liked", "plain", "disliked"]


@pytest.mark.slow
def test_the_plain_ranking_ceiling_matches_a_brute_force_count(oracle_ws, board2021):
    """plain_ranking_ap counts per float16 value; the same AP from every pair, ranked the slow way."""
    from sklearn.metrics import average_precision_score

    from curation.evaluate.suggest import plain_ranking_ap
    from curation.tagger.store import open_recorded

    run_suggest(oracle_ws)
    con = duckdb.connect(str(oracle_ws / "catalog.duckdb"), read_only=True)
    folder = con.execute("SELECT folder FROM taggers WHERE name = 'imported:oracle'").fetchall()[0][0]
    scope = [r[0] for r in con.execute("SELECT name FROM suggest_scope_tags").fetchall()]
    con.execute(sql_text("marts/post_labels"))
    labels = set(con.execute("SELECT post_id, t.name FROM post_labels JOIN tags t USING (tag_id)").fetchall())
    con.close()
    store = open_recorded(oracle_ws, folder)
    noise = {(int(p), t, c) for p, t, c in pl.read_parquet(board2021 / "truth" / "label_noise.parquet").iter_rows()}
    pairs = {"add": ([], []), "remove": ([], [])}
    column = {t: j for j, t in enumerate(store.tags)}
    for tag in scope:
        p = np.asarray(store.scores(column[tag]), np.float16)
        for row, post in enumerate(store.post_ids.tolist()):
            action = "remove" if (post, tag) in labels else "add"
            scores, hits = pairs[action]
            scores.append(float(p[row]) if action == "add" else -float(p[row]))
            hits.append((post, tag, "missing" if action == "add" else "wrong") in noise)
    ours = plain_ranking_ap(oracle_ws, board2021 / "truth")
    for action, (scores, hits) in pairs.items():
        assert ours[action] == pytest.approx(average_precision_score(hits, scores), abs=1e-9)


def test_a_tag_fingerprint_and_floor():
    from curation.suggest.reuse import positives_fingerprint, tag_floor

    assert positives_fingerprint(np.array([3, 9, 27])) == positives_fingerprint(np.array([27, 3, 9]))
    assert positives_fingerprint(np.array([3, 9, 27])) != positives_fingerprint(np.array([3, 9, 28]))
    assert positives_fingerprint(np.array([3, 9])) != positives_fingerprint(np.array([3, 9, 0]))
    labels = np.array([True, True, False, False])
    scores = np.array([0.9, 0.7, 0.6, 0.1], np.float32)
    assert tag_floor(labels, scores, np.array([0.6])) == pytest.approx(0.6)  # a flagged add lower than the positives' mean
    assert tag_floor(labels, scores, np.zeros(0)) == pytest.approx(0.8)


@pytest.mark.slow
def test_a_rerun_keeps_the_flags_of_tags_whose_inputs_did_not_change(oracle_ws, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(oracle_ws, ws, ignore=shutil.ignore_patterns(".curate.lock"))
    shutil.rmtree(ws / "cache" / "suggest", ignore_errors=True)
    first = run_suggest(ws)
    assert first.kept_tags == 0 and first.reran_tags == first.tags
    before = (ws / "out" / "suggestions.json").read_text()
    again = run_suggest(ws)
    assert again.kept_tags == again.tags and again.reran_tags == 0  # nothing changed: cleanlab runs on no tag
    strip = lambda text: json.loads(text)["suggestions"]  # noqa: E731
    assert strip((ws / "out" / "suggestions.json").read_text()) == strip(before)
    current = load_suggestions(ws)
    add = current.filter(current["action"] == "add").row(0, named=True)
    review(ws, accept=[f"{add['post_id']}:{add['tag']}"], reject=[], moderator="alice")  # one tag's labels change
    changed = run_suggest(ws)
    assert changed.reran_tags == 1 and changed.kept_tags == changed.tags - 1
    kept_result = strip((ws / "out" / "suggestions.json").read_text())
    shutil.rmtree(ws / "cache" / "suggest")
    from_scratch = run_suggest(ws)
    assert from_scratch.kept_tags == 0 and strip((ws / "out" / "suggestions.json").read_text()) == kept_result


@pytest.mark.slow
def test_suggestions_are_made_for_the_configured_tag_categories(oracle_ws, tmp_path):
    """By default only general tags get suggestions (pixels say little of who drew a picture or
    of its file); an empty list opens every category."""
    import shutil

    from conftest import set_config

    from curation.catalog import open_catalog

    ws = tmp_path / "ws"
    shutil.copytree(oracle_ws, ws, ignore=shutil.ignore_patterns(".curate.lock"))
    with open_catalog(ws, read_only=True) as cat:
        category = dict(cat.rows("SELECT name, category FROM selected_tags"))
    default = run_suggest(ws)
    assert default.scope_tags and {category[t] for t in default.scope_tags} == {"general"}
    document = json.loads((ws / "out" / "suggestions.json").read_text())
    assert {category[x["tag"]] for x in document["suggestions"]} == {"general"}
    set_config(ws, suggest={"categories": []})
    every = run_suggest(ws)
    assert set(default.scope_tags) < set(every.scope_tags)
    assert {category[t] for t in every.scope_tags} > {"general"}
