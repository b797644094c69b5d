"""Tagger: metrics against scikit-learn and hand-computed values, the tag-major store, heads
that learn a planted signal, out-of-fold predictions on a synthetic board, an ONNX tagger
exported inside the test, imported predictions, and side-by-side comparisons."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest
from conftest import set_config
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, precision_score, recall_score

from curation.dedupe import run_dedupe
from curation.embed import run_embed
from curation.errors import CurationError
from curation.images import run_images
from curation.ingest import ingest
from curation.select import select
from curation.tagger import PredictionStore, TrainOptions, run_train, train_head
from curation.tagger.evaluate import evaluate_taggers
from curation.tagger.external import import_predictions, score_onnx
from curation.tagger.heads import dense_labels, predict
from curation.tagger.metrics import (
    average_precision,
    confusion_matrix,
    informedness,
    mcc,
    micro_counts,
    summarise,
    threshold_where_precision_equals_recall,
)
from curation.workspace import init_workspace


@pytest.fixture
def noisy_scores():
    rng = np.random.default_rng(0)
    y = rng.random((400, 12)) < np.linspace(0.05, 0.5, 12)
    p = np.clip(y * 0.35 + rng.random((400, 12)) * 0.65, 0, 1)
    p[:, 3] = np.round(p[:, 3], 1)  # ties
    return y, p


def test_average_precision_matches_sklearn(noisy_scores):
    y, p = noisy_scores
    ours = average_precision(y, p)
    for j in range(y.shape[1]):
        assert ours[j] == pytest.approx(average_precision_score(y[:, j], p[:, j]), abs=1e-12)
    assert np.isnan(average_precision(np.zeros((3, 1), bool), np.ones((3, 1))))[0]


def test_summary_matches_sklearn(noisy_scores):
    y, p = noisy_scores
    s = summarise(y, p, 0.5)
    predicted = p >= 0.5
    assert s.micro_precision == pytest.approx(precision_score(y.ravel(), predicted.ravel()))
    assert s.micro_recall == pytest.approx(recall_score(y.ravel(), predicted.ravel()))
    assert s.micro_f1 == pytest.approx(f1_score(y.ravel(), predicted.ravel()))
    assert s.macro_f1 == pytest.approx(f1_score(y, predicted, average="macro", zero_division=0))
    assert s.macro_ap == pytest.approx(np.mean([average_precision_score(y[:, j], p[:, j]) for j in range(12)]))
    at = threshold_where_precision_equals_recall(y, p)
    tp, fp, fn, tn = micro_counts(y, p, at)
    assert abs(tp / (tp + fp) - tp / (tp + fn)) < 0.02  # bisection landed where the two cross
    assert s.mcc_at_pr == pytest.approx(matthews_corrcoef(y.ravel(), (p >= at).ravel()))


def test_micro_counts_from_sorted_scores_equal_the_full_pass():
    from curation.tagger.metrics import MicroCounts

    rng = np.random.default_rng(4)
    y = rng.random((300, 40)) < 0.1
    for p in (rng.random((300, 40)).astype(np.float32), np.round(rng.random((300, 40)), 1)):  # float32; many ties
        counts = MicroCounts(y, p)
        for t in [0.0, 0.1, 0.3, 0.5, 0.7, float(p[3, 4]), float(np.float32(0.3)), 0.30000001, 1.0, 1.5]:
            assert counts(t) == micro_counts(y, p, t), t


def test_hand_computed_values():
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], dtype=bool)
    p = np.array([[0.9, 0.2], [0.4, 0.8], [0.6, 0.1], [0.1, 0.3]])
    # at 0.5: tag 0 has tp 1, fp 1, fn 1, tn 1; tag 1 has tp 1, fp 0, fn 1, tn 2
    assert informedness(y, p, 0.5) == pytest.approx(((0.5 + 0.5 - 1) + (0.5 + 1.0 - 1)) / 2)
    assert mcc(2, 1, 2, 3) == pytest.approx((2 * 3 - 1 * 2) / np.sqrt(3 * 4 * 4 * 5))
    assert average_precision(y, p)[0] == pytest.approx((1 / 1 + 2 / 3) / 2)  # hits at ranks 1 and 3
    assert confusion_matrix(np.array([0, 1, 1, 3]), np.array([0, 1, 0, 3]), 4).tolist() == [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 1],
    ]


def test_prediction_store_is_tag_major_and_round_trips(tmp_path):
    store = PredictionStore.create(tmp_path / "p", np.array([10, 20, 30]), ["a", "b", "c", "d", "e"], chunk_tags=2, meta={})
    probabilities = np.arange(15, dtype=np.float32).reshape(3, 5) / 20
    store.write(np.array([2, 0]), probabilities[[2, 0]])
    assert store.chunk(0).shape == (2, 3) and len(list(store.chunks())) == 3
    got = store.dense(np.array([0, 2]), np.array([4, 0, 3]))
    assert np.allclose(got, probabilities[[0, 2]][:, [4, 0, 3]], atol=1e-3)
    assert np.isnan(store.dense(np.array([1]), np.array([0])))[0, 0]  # never written
    assert store.tags == ["a", "b", "c", "d", "e"] and store.post_ids.tolist() == [10, 20, 30]


def test_a_store_grows_by_segments_and_reads_as_one(tmp_path):
    tags = ["a", "b", "c", "d", "e"]
    store = PredictionStore.create(tmp_path / "p", np.array([10, 20, 30]), tags, chunk_tags=2, meta={})
    base = np.arange(15, dtype=np.float32).reshape(3, 5) / 20
    store.write(np.arange(3), base, np.full((3, 4), 0.25))
    first = np.full((2, 5), 0.5, np.float32) + np.arange(5) / 100
    store.append(np.array([40, 50]), first, np.full((2, 4), 0.5), dropped=np.array([20]))
    (store.folder / "more" / "seg_00009").mkdir()  # a segment a killed run never named
    second = np.full((1, 5), 0.9, np.float32)
    store = PredictionStore(tmp_path / "p")
    store.append(np.array([60]), second, None, dropped=np.array([50, 10]))
    store = PredictionStore(tmp_path / "p")
    assert store.post_ids.tolist() == [30, 40, 60] and store.segments == ["seg_00001", "seg_00002"]
    assert not (store.folder / "more" / "seg_00009").exists()
    expected = np.vstack([base[2], first[0], second[0]])
    assert np.allclose(store.dense(np.array([2, 0, 1]), np.array([4, 0])), expected[[2, 0, 1]][:, [4, 0]], atol=1e-3)
    assert np.allclose(np.asarray(store.scores(3), np.float32), expected[:, 3], atol=1e-3)
    rating = store.rating().astype(np.float32)
    assert np.allclose(rating[:2], [[0.25] * 4, [0.5] * 4]) and np.isnan(rating[2]).all()  # the last segment had none
    with pytest.raises(ValueError, match="in the store already"):
        store.append(np.array([40]), first[:1], None, dropped=np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="expected"):
        store.append(np.array([70]), first[:1, :3], None, dropped=np.zeros(0, np.int64))
    assert PredictionStore(tmp_path / "p").post_ids.tolist() == [30, 40, 60]  # a refused append changes nothing


def _planted(n: int = 3000, dim: int = 32, tags: int = 6, seed: int = 0):
    """x (n, dim) float16; y (n, tags) bool, linear in x plus noise; its nonzero (rows, cols);
    ratings (n,) g or s from the first feature."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float16)
    y = (x.astype(np.float32) @ rng.standard_normal((dim, tags)) + rng.standard_normal((n, tags)) * 0.5) > 1.5
    rows, cols = np.nonzero(y)
    return x, y, rows, cols, (x[:, 0] > 0).astype(np.int8)


def test_a_head_learns_a_planted_signal():
    x, y, rows, cols, ratings = _planted()
    n, tags = y.shape
    indptr = np.searchsorted(rows, np.arange(n + 1))
    assert np.array_equal(dense_labels(indptr, cols, np.arange(n), tags).astype(bool), y)
    train, held = np.arange(2400), np.arange(2400, n)
    for options in (
        TrainOptions(epochs=10),
        TrainOptions(head="mlp", epochs=10, prior_weighted_loss=True),
        TrainOptions(epochs=10, loss="asymmetric"),
    ):
        model = train_head(x, indptr, cols, ratings, train, tags, options)
        out = list(predict(model, x, held))
        p = np.concatenate([b[1] for b in out]).astype(np.float32)
        rating = np.concatenate([b[2] for b in out]).astype(np.float32)
        assert np.nanmean(average_precision(y[held], p)) > 0.85
        assert (rating.argmax(axis=1) == ratings[held]).mean() > 0.9


def test_the_asymmetric_loss_spares_sure_negatives_and_weighs_positives_as_bce():
    import torch
    import torch.nn.functional as F

    from curation.tagger.heads import tag_loss

    prior = torch.tensor([0.1, 0.1])
    asymmetric = TrainOptions(loss="asymmetric")
    sure_negative = torch.logit(torch.tensor([[0.04, 0.04]]))  # under the 0.05 shift
    assert float(tag_loss(sure_negative, torch.zeros(1, 2), prior, asymmetric)) == 0.0
    assert float(tag_loss(sure_negative, torch.zeros(1, 2), prior, TrainOptions())) > 0.04
    positive = torch.tensor([[0.3, -1.0]])
    target = torch.ones(1, 2)
    assert torch.isclose(tag_loss(positive, target, prior, asymmetric), F.binary_cross_entropy_with_logits(positive, target))
    # a confident wrong negative (p = 0.9) costs (0.85 ** 4) x its shifted log-loss: far less than BCE's
    wrong = torch.logit(torch.tensor([[0.9, 0.9]]))
    shifted = 0.85**4 * -np.log(0.15)
    assert np.isclose(float(tag_loss(wrong, torch.zeros(1, 2), prior, asymmetric)), shifted, rtol=1e-4)


def test_early_stopping_returns_the_head_at_its_best_held_out_epoch():
    # labels of pure noise: every epoch after the first few fits noise, so the held-out loss
    # rises, and the early-stopped head (best epoch) must score a lower held-out loss than the
    # head trained for every epoch
    import torch

    from curation.tagger.heads import held_out_loss

    rng = np.random.default_rng(5)
    n, d, tags = 600, 64, 4
    x = rng.standard_normal((n, d)).astype(np.float16)
    y = rng.random((n, tags)) < 0.3
    rows, cols = np.nonzero(y)
    indptr = np.searchsorted(rows, np.arange(n + 1))
    ratings = np.full(n, -1, np.int8)
    train, held = np.arange(450), np.arange(450, n)
    prior = torch.from_numpy(y[train].mean(axis=0).astype(np.float32))
    losses = {}
    for stop in (False, True):
        options = TrainOptions(head="mlp", epochs=60, max_steps=10_000, learning_rate=1e-2, early_stopping=stop, patience=2)
        model = train_head(x, indptr, cols, ratings, train, tags, options, held_out=held)
        losses[stop] = held_out_loss(model, x, indptr, cols, held, tags, prior, options, "cpu")
    assert losses[True] < losses[False] - 0.05


def test_a_linear_head_fits_unit_length_embeddings():
    # 1,280-d rows of unit length, as the embed store holds them (each value about 0.03); one tag
    # is on where a row leans towards a planted direction. The default linear head must fit it:
    # its posts near 1, the others near 0 (fitted: 0.96 vs 0.01). Fed the rows unscaled, the
    # same training underfits (0.66 vs 0.15).
    rng = np.random.default_rng(3)
    n, d = 3000, 1280
    direction = rng.normal(size=d).astype(np.float32)
    direction /= np.linalg.norm(direction)
    y = rng.random(n) < 0.3
    x = rng.normal(size=(n, d)).astype(np.float32) + np.outer(np.where(y, 3.0, -3.0), direction).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rows = np.flatnonzero(y)
    indptr = np.searchsorted(rows, np.arange(n + 1))
    train, held = np.arange(2400), np.arange(2400, n)
    no_rating = np.full(n, -1, np.int8)
    model = train_head(x.astype(np.float16), indptr, np.zeros(len(rows), np.int64), no_rating, train, 1, TrainOptions())
    p = np.concatenate([b[1] for b in predict(model, x, held)]).astype(np.float32)[:, 0]
    assert p[y[held]].mean() - p[~y[held]].mean() > 0.8


@pytest.fixture(scope="module")
def trained_ws(board2021, tmp_path_factory):
    ws = tmp_path_factory.mktemp("tagger") / "ws"
    init_workspace(ws, [board2021])
    set_config(ws, embed={"image_size": 96}, tagger={"folds": 3, "epochs": 5}, select={"min_tag_count": 5})
    for stage in (ingest, select, run_images, run_embed, run_dedupe):
        stage(ws)
    run_train(ws)
    return ws


@pytest.mark.slow
def test_out_of_fold_predictions_for_every_post_with_whole_groups_per_fold(trained_ws):
    con = duckdb.connect(str(trained_ws / "catalog.duckdb"), read_only=True)
    usable = {
        r[0] for r in con.execute("SELECT post_id FROM selection JOIN images USING (post_id) WHERE status = 'ok'").fetchall()
    }
    folds = dict(con.execute("SELECT post_id, fold FROM tagger_folds").fetchall())
    groups = con.execute("SELECT group_id, list(post_id) FROM dup_groups GROUP BY 1").fetchall()
    families = con.execute("SELECT post_id, parent_id FROM posts WHERE parent_id IS NOT NULL").fetchall()
    con.close()
    assert set(folds) == usable and set(folds.values()) == {0, 1, 2}
    for _, members in groups:
        assert len({folds[m] for m in members if m in folds}) <= 1
    for child, parent in families:
        if child in folds and parent in folds:
            assert folds[child] == folds[parent]
    store = PredictionStore(trained_ws / "cache" / "predictions" / "kfold-heads")
    assert sorted(store.post_ids.tolist()) == sorted(usable)
    everything = np.concatenate([c.astype(np.float32) for _, c in store.chunks()])
    assert not np.isnan(everything).any() and ((everything >= 0) & (everything <= 1)).all()
    assert not np.isnan(store.rating().astype(np.float32)).any()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's legacy ONNX exporter, the one that needs no onnxscript
def test_onnx_tagger_imported_predictions_and_a_comparison(trained_ws, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")

    class TinyTagger(torch.nn.Module):  # NHWC BGR 0-255 in, like the WD taggers; 3 tags out
        def forward(self, x):
            mean = x.mean(dim=(1, 2)) / 255.0  # (B, 3) as B, G, R
            return torch.sigmoid(torch.stack([mean[:, 2] * 8 - 4, mean[:, 0] * 8 - 4, mean[:, 1] * 0 + 0.2], dim=1))

    model = tmp_path / "tiny.onnx"
    torch.onnx.export(
        TinyTagger(),
        torch.zeros(1, 64, 64, 3),
        model,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        dynamo=False,
    )
    con = duckdb.connect(str(trained_ws / "catalog.duckdb"), read_only=True)
    known = [r[0] for r in con.execute("SELECT name FROM selected_tags ORDER BY count DESC LIMIT 2").fetchall()]
    con.close()
    pl.DataFrame(
        {"tag_id": [1, 2, 3], "name": [known[0], known[1], "never_heard_of"], "category": [0, 0, 0], "count": [9, 8, 7]}
    ).write_csv(tmp_path / "selected_tags.csv")
    store = score_onnx(trained_ws, model, tmp_path / "selected_tags.csv", workers=0)
    assert store.tags == [known[0], known[1], "never_heard_of"] and store.meta["input"]["size"] == 64  # declared size wins
    p = np.concatenate([c.astype(np.float32) for _, c in store.chunks()])
    assert not np.isnan(p).any() and np.allclose(p[2], 1 / (1 + np.exp(-0.2)), atol=2e-3)

    ours = PredictionStore(trained_ws / "cache" / "predictions" / "kfold-heads")
    ids = ours.post_ids
    imported = tmp_path / "other.parquet"
    pl.DataFrame({"post_id": ids, known[0]: np.full(len(ids), 0.5), known[1]: np.linspace(0, 1, len(ids))}).write_parquet(
        imported
    )
    import_predictions(trained_ws, imported)
    np.save(tmp_path / "m.npy", np.full((3, 2), 0.25))
    with pytest.raises(CurationError, match="needs --post-ids"):
        import_predictions(trained_ws, tmp_path / "m.npy")

    scores = evaluate_taggers(trained_ws, ["kfold-heads", "onnx:tiny", "imported:other"], save=tmp_path / "arena")
    assert [s.name for s in scores] == ["kfold-heads", "onnx:tiny", "imported:other", "ensemble"]
    assert all(s.overall.tags == scores[0].overall.tags <= 2 for s in scores)  # only tags all three know
    assert scores[2].overall.macro_ap < scores[0].overall.macro_ap  # a constant is no tagger
    saved = np.load(tmp_path / "arena" / "ensemble.npy").astype(np.float32)
    parts = [np.load(tmp_path / "arena" / f"{n}.npy").astype(np.float32) for n in ("kfold-heads", "onnx_tiny", "imported_other")]
    assert np.allclose(saved, np.mean(parts, axis=0), atol=2e-3)
    assert len(np.load(tmp_path / "arena" / "post_ids.npy")) == scores[0].overall.posts


@pytest.mark.slow
def test_evaluate_one_tagger_reports_slices_and_rating(trained_ws):
    [score] = evaluate_taggers(trained_ws, ["kfold-heads"])
    assert score.overall.macro_ap > 0.1 and "popular" in score.slices and "general" in score.slices
    assert score.rating_confusion.sum() == score.overall.posts and 0 <= score.rating_accuracy <= 1
    assert set(score.per_tag.columns) >= {"name", "category", "positives", "precision", "recall", "f1", "ap"}
    with pytest.raises(CurationError, match="no tagger named nope"):
        evaluate_taggers(trained_ws, ["nope"])


def test_neighbour_and_group_evidence_blend_into_held_out_probabilities():
    from curation.tagger.evidence import EvidenceOptions, FoldEvidence, label_rows

    # four posts on two directions; tags: 0 = "cat" (posts 0, 1), 1 = "dog" (posts 2, 3)
    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    indptr, indices = np.array([0, 1, 2, 3, 4]), np.array([0, 0, 1, 1])
    summed = label_rows(indptr, indices, np.array([[0, 2], [1, 1]]), np.array([[0.25, 0.75], [0.5, 0.5]], np.float32), 2)
    assert summed.tolist() == [[0.25, 0.75], [1.0, 0.0]]
    training = np.array([1, 2, 3])  # post 0 is held out; its nearest training post (1) is a cat
    no_group = np.full(4, -1)
    only_neighbours = FoldEvidence(vectors, indptr, indices, 2, training, no_group, EvidenceOptions(2, 0.05, 1.0, 0.0))
    share = only_neighbours.blend(np.array([0]), np.array([[0.5, 0.5]], np.float32))
    assert share[0, 0] > 0.95 and share[0, 1] < 0.05
    # post 0 and post 2 are copies of one picture: post 2's tags are evidence for post 0
    grouped = FoldEvidence(vectors, indptr, indices, 2, training, np.array([7, -1, 7, -1]), EvidenceOptions(2, 0.05, 0.0, 0.8))
    blended = grouped.blend(np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]], np.float32))
    assert blended[0].tolist() == pytest.approx([0.1, 0.9]) and blended[1].tolist() == pytest.approx([0.5, 0.5])


def _paired_labels(posts: int = 3000, pairs: int = 60, seed: int = 0):
    """CSR labels over 2 * pairs tags: each post draws 4 pairs; it always carries tag 2i of a pair
    drawn and tag 2i + 1 with probability 0.9 (so P(2i | 2i + 1) = 1, P(2i + 1 | 2i) = 0.9)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(posts):
        drawn = rng.choice(pairs, 4, replace=False)
        rows.append(sorted([2 * int(b) for b in drawn] + [2 * int(b) + 1 for b in drawn if rng.random() < 0.9]))
    return np.concatenate([[0], np.cumsum([len(r) for r in rows])]), np.concatenate(rows).astype(np.int64)


def test_label_context_knows_the_company_a_tag_keeps_and_never_reads_its_own_label(tmp_path):
    from curation.tagger.label_context import LabelContext, blend_context, fit_label_context

    indptr, indices = _paired_labels()
    tags, held = 120, np.arange(2500, 3000)
    model = fit_label_context(indptr, indices, np.arange(2500), tags)
    assert model.prior[0::2].mean() == pytest.approx(4 / 60, rel=0.1)
    base = np.log(model.prior / (1 - model.prior))
    p = 1 / (1 + np.exp(-(model.evidence(indptr, indices, held) + base)))  # the context model's own probability
    y = dense_labels(indptr, indices, held, tags).astype(bool)
    partner = np.zeros_like(y)
    partner[:, 0::2], partner[:, 1::2] = y[:, 1::2], y[:, 0::2]
    assert p[:, 0::2][partner[:, 0::2]].mean() > 0.95  # tag 2i whenever 2i + 1 is there
    assert 0.8 < p[:, 1::2][partner[:, 1::2]].mean() < 0.97  # tag 2i + 1 nine times in ten
    assert p[~partner].mean() < 0.02  # alone, a tag's company says it is not there
    # a post's own label of tag j does not move its evidence for j: flip post 0's tags on and off
    own = np.array([0, 1, 6, 50, 51])
    for j in own.tolist():
        without = np.setdiff1d(own, [j])
        with_it = model.evidence(np.array([0, len(own)]), own, np.array([0]))[0, j]
        assert model.evidence(np.array([0, len(without)]), without, np.array([0]))[0, j] == pytest.approx(with_it, abs=1e-5)
    model.save(tmp_path / "fold_0.context.npz")
    again = LabelContext.load(tmp_path / "fold_0.context.npz")
    assert np.allclose(again.evidence(indptr, indices, held), model.evidence(indptr, indices, held), atol=0.05)
    assert LabelContext.load(tmp_path / "none.npz") is None
    q = np.array([[0.2, 0.7]], np.float32)
    assert blend_context(q, np.array([[3.0, -3.0]], np.float32), 0.0) == pytest.approx(q)
    moved = blend_context(q, np.array([[3.0, -3.0]], np.float32), 1.0)[0]
    assert moved[0] == pytest.approx(1 / (1 + np.exp(-(np.log(0.2 / 0.8) + 3))), rel=1e-4) and moved[1] < 0.7
    # a tag every training post carries (0) and one none does (2) say nothing either way
    lone = fit_label_context(np.array([0, 2, 4, 6, 8, 11]), np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2]), np.arange(4), 3)
    assert (
        np.abs(lone.evidence(np.array([0, 2, 4, 6, 8, 11]), np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2]), np.arange(5))).max()
        < 0.01
    )


def test_the_step_budget_shortens_only_large_boards():
    from curation.tagger.heads import training_plan

    options = TrainOptions(epochs=30, max_steps=800, batch_size=1024)
    assert training_plan(3_760, options) == (30, 151, 25)  # a 5,000-post board: 750 steps, every epoch
    assert training_plan(16_000, options) == (30, 640, 25)
    assert training_plan(80_000, options) == (10, 1024, 79)  # 100,000 posts: 10 epochs of 79 steps
    assert training_plan(8_000_000, options) == (1, 1024, 7813)  # at least one whole epoch
    assert training_plan(10, TrainOptions(epochs=3)) == (3, 1, 10)


def test_a_warm_head_continues_by_tag_name_and_learns_a_new_tag(tmp_path):
    from curation.tagger.heads import _continue_from, build_head, load_head, save_head

    x, y, rows, cols, ratings = _planted()
    indptr = np.searchsorted(rows, np.arange(len(x) + 1))
    train, held = np.arange(2400), np.arange(2400, 3000)
    first = [f"t{j}" for j in range(5)]  # the first run knew tags 0-4 only
    known = cols < 5
    kept_indptr = np.searchsorted(rows[known], np.arange(len(x) + 1))
    model = train_head(x, kept_indptr, cols[known], ratings, train, 5, TrainOptions(epochs=10))
    save_head(model, tmp_path / "fold_0.pt", first, TrainOptions())
    saved = load_head(tmp_path / "fold_0.pt")
    assert saved is not None and saved.tags == first and saved.dim == 32
    now = ["t5", "t3", "t0", "t1", "t2", "t4"]  # reordered, with t5 new
    fresh = build_head(32, 6, TrainOptions())
    assert _continue_from(fresh, saved, now) == 5
    copied, original = fresh.tags.weight.detach().numpy()[1], model.tags.weight.detach().numpy()[3]
    assert copied.dtype == np.float32 and np.allclose(copied, original, rtol=1e-3, atol=1e-4)  # kept in half precision
    order = [int(t[1]) for t in now]
    relabelled = np.array([order.index(c) for c in cols])
    warm = train_head(x, indptr, relabelled, ratings, train, 6, TrainOptions(epochs=3), start=(saved, now))
    p = np.concatenate([b[1] for b in predict(warm, x, held)]).astype(np.float32)
    ap = average_precision(y[held][:, order], p)
    assert np.nanmean(ap[1:]) > 0.85 and ap[0] > 0.7  # the old tags kept, the new one learnt in 3 epochs
    assert load_head(tmp_path / "missing.pt") is None
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    assert load_head(tmp_path / "bad.pt") is None


def test_warm_starts_only_where_no_post_of_the_fold_was_trained_on(tmp_path):
    from types import SimpleNamespace

    from curation.tagger.heads import build_head, save_head
    from curation.tagger.train import head_path, trained_path, warm_starts

    meta = {"embedder": "e", "head": "linear", "folds": 2, "version": 2}
    tags = [f"t{j}" for j in range(40)]
    previous = tmp_path / "kfold-heads"
    PredictionStore.create(previous, np.arange(10), tags, 16, meta).close()
    for k, trained in ((0, [5, 6, 7, 8, 9]), (1, [0, 1, 2, 3, 4])):
        save_head(build_head(8, 40, TrainOptions()), head_path(previous, k), tags, TrainOptions())
        np.save(trained_path(previous, k), np.array(trained))
    cfg = SimpleNamespace(warm_start=True, warm_start_max_new_tags=0.05)
    ids = np.arange(12)  # posts 10 and 11 are new
    fold = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1])
    heads, reason = warm_starts(previous, ids, fold, tags, meta, cfg)
    assert sorted(heads) == [0, 1] and reason == ""
    assert heads[1][1].tolist() == [0, 1, 2, 3, 4]
    moved = fold.copy()
    moved[7] = 0  # post 7 trained head 0; now head 0 would score it
    heads, reason = warm_starts(previous, ids, moved, tags, meta, cfg)
    assert sorted(heads) == [1] and "folds 0" in reason
    assert warm_starts(previous, ids, fold, [*tags, "new1", "new2", "new3"], meta, cfg)[0] == {}  # 7% new tags
    assert warm_starts(previous, ids, fold, tags, {**meta, "embedder": "other"}, cfg) == ({}, "embedder changed")
    assert warm_starts(previous, ids, fold, tags, {**meta, "version": 3}, cfg) == (
        {},
        "version changed",
    )  # heads that learn otherwise
    assert warm_starts(previous, ids, fold, tags, meta, SimpleNamespace(warm_start=False))[1] == "warm_start = false"
    assert warm_starts(tmp_path / "none", ids, fold, tags, meta, cfg) == ({}, "no earlier heads")


def test_a_top_up_needs_a_small_change_and_heads_that_never_saw_a_new_post_or_its_duplicates(tmp_path):
    from types import SimpleNamespace

    from curation.tagger.evidence import EvidenceOptions
    from curation.tagger.heads import build_head, save_head
    from curation.tagger.train import LABELS_AT_TRAINING, FoldedPosts, head_path, label_fingerprints, top_up_plan, trained_path

    meta = {"embedder": "e", "head": "linear", "folds": 2}
    tags = [f"t{j}" for j in range(40)]
    folder = tmp_path / "kfold-heads"
    PredictionStore.create(folder, np.arange(40), tags, 16, meta).close()
    fold_then = np.arange(40) % 2
    for k in (0, 1):
        save_head(build_head(8, 40, TrainOptions()), head_path(folder, k), tags, TrainOptions())
        np.save(trained_path(folder, k), np.flatnonzero(fold_then != k))
    indptr, indices = np.arange(41), np.arange(40) % 40  # post i carries tag i
    ratings = np.zeros(40, np.int8)
    np.savez(folder / LABELS_AT_TRAINING, post_ids=np.arange(40), fingerprints=label_fingerprints(tags, indptr, indices, ratings))
    cfg = SimpleNamespace(retrain_after_change=0.05)

    def plan(post_ids, fold, units, labels=(indptr, indices), names=tags):
        n, rated = len(post_ids), np.zeros(len(post_ids), np.int8)
        prints = label_fingerprints(names, *labels, rated)
        posts = FoldedPosts(post_ids, np.zeros((n, 8)), *labels, rated, fold, -np.ones(n), prints, EvidenceOptions())
        return top_up_plan(folder, posts, units, names, meta, cfg)

    ids = np.arange(41)  # post 40 is new, alone in its unit
    grown = (np.append(indptr, 41), np.append(indices, 0))
    fold = np.append(fold_then, 0)
    got, why = plan(ids, fold, ids.copy(), grown)
    assert why == "" and got.new_rows.tolist() == [40] and got.removed.size == 0 and got.changed_share == pytest.approx(1 / 40)
    units = ids.copy()
    units[40] = units[3]  # a repost of post 3 (fold 1): head 0 trained on post 3, so it may not score post 40
    assert plan(ids, fold, units, grown)[0] is None and "duplicates" in plan(ids, fold, units, grown)[1]
    gone = np.arange(1, 41)  # post 0 removed as well: 2 of 40 changed
    got, why = plan(gone, fold[1:], gone.copy(), (np.append(indptr[1:] - 1, 40), np.append(indices[1:], 0)))
    assert why == "" and got.removed.tolist() == [0] and got.changed_share == pytest.approx(2 / 40)
    relabelled = (indptr, (indices + 1) % 40)  # every post's tag changed
    assert "retrain_after_change 0.05" in plan(np.arange(40), fold_then, np.arange(40), relabelled)[1]
    more = [*tags, "brand_new"]  # a new tag, carried by post 5 only: not a relabel, and 1 of 41 tags is new
    with_new = (np.concatenate([indptr[:6], indptr[6:] + 1]), np.insert(indices, 6, 40))
    got, why = plan(np.arange(40), fold_then, np.arange(40), with_new, more)
    assert why == "" and got.changed_share == 0
    assert "new label tags" in plan(np.arange(40), fold_then, np.arange(40), with_new, [*more, "b", "c"])[1]
    assert (
        plan(np.arange(40), fold_then, np.arange(40))[1] == ""
        and plan(np.arange(40), fold_then, np.arange(40))[0].new_rows.size == 0
    )


@pytest.mark.slow
def test_a_rerun_warm_starts_every_fold_and_scores_as_well(trained_ws, tmp_path):
    import shutil

    from curation.config import load_config

    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws, ignore=shutil.ignore_patterns(".curate.lock"))
    [cold] = evaluate_taggers(ws, ["kfold-heads"])
    set_config(ws, tagger={"retrain_after_change": 0})  # train even though nothing changed
    report = run_train(ws)
    assert (
        report.why_trained == "retrain_after_change = 0"
        and report.warm_folds == load_config(ws).tagger.folds
        and report.cold_reason == ""
    )
    [warm] = evaluate_taggers(ws, ["kfold-heads"])
    assert warm.overall.macro_ap > cold.overall.macro_ap - 0.02
    set_config(ws, tagger={"warm_start": False, "retrain_after_change": 0})
    assert run_train(ws).warm_folds == 0


@pytest.mark.slow
def test_folds_stay_put_across_rebuilds_and_new_posts_restore_the_balance(trained_ws):
    from curation.catalog import open_catalog
    from curation.config import load_config
    from curation.tagger.train import assign_folds

    split = load_config(trained_ws).split
    with open_catalog(trained_ws, read_only=True) as cat:
        previous = dict(cat.rows("SELECT post_id, fold FROM tagger_folds"))
        post_ids = np.array(sorted(previous), dtype=np.int64)
        args = (cat, post_ids, 3, split.seed, split.group_by_artist, split.min_tag_posts)
        assert assign_folds(*args, previous).tolist() == [previous[p] for p in post_ids]
        newcomers = set(post_ids[::4].tolist())  # a quarter of the posts as if new this rebuild
        known = {p: f for p, f in previous.items() if p not in newcomers}
        dealt = dict(zip(post_ids.tolist(), assign_folds(*args, known).tolist()))
    unit_moved = [p for p in known if dealt[p] != known[p]]
    assert not unit_moved  # every post placed before keeps its fold (its unit's smallest placed post's)
    sizes = np.bincount(list(dealt.values()), minlength=3)
    assert sizes.max() - sizes.min() <= 0.15 * len(dealt)  # the newcomers went where posts were wanted


@pytest.mark.slow
def test_a_small_change_keeps_the_heads_and_predicts_only_new_posts(trained_ws, tmp_path):
    import shutil

    from curation.catalog import open_catalog
    from curation.tagger.train import context_path, trained_path

    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws, ignore=shutil.ignore_patterns(".curate.lock"))
    with open_catalog(ws, read_only=True) as cat:
        newest = cat.rows(
            "SELECT created_at, group_id IS NULL AND parent_id IS NULL "
            "AND post_id NOT IN (SELECT parent_id FROM posts WHERE parent_id IS NOT NULL) "
            "FROM posts JOIN tagger_folds USING (post_id) LEFT JOIN dup_groups USING (post_id) ORDER BY created_at DESC"
        )
    # the newest few posts (of ~150) wait for the next rebuild; none is a repost, a child or a
    # parent of an older post, which would send its fold's head back to training (a leak otherwise)
    alone = next(k for k, (_, free) in enumerate(newest) if not free)
    waiting = min(alone, 4)
    assert waiting >= 2
    cut = newest[waiting - 1][0]
    # the heads continue warm, having trained on the waiting posts: each comes back into the one
    # fold whose head never saw it, so the top-up stays leak-free
    set_config(ws, select={"created_before": cut}, tagger={"retrain_after_change": 0})
    select(ws)
    trained = run_train(ws)
    folder = trained.folder
    before = PredictionStore(folder)
    old_ids, old_scores = before.post_ids.copy(), np.stack([np.asarray(before.scores(j)) for j in range(4)])
    contexts = [context_path(folder, k).read_bytes() for k in range(before.meta["folds"])]  # fitted with the heads
    set_config(ws, select={"created_before": None}, tagger={"retrain_after_change": 0.05})
    select(ws)
    report = run_train(ws)
    assert report.mode == "topped up", report.why_trained
    assert [context_path(folder, k).read_bytes() for k in range(len(contexts))] == contexts  # a top-up refits none
    assert report.new_posts == waiting and report.removed_posts == 0
    assert 0 < report.changed_share <= 0.05
    store = PredictionStore(folder)
    ids = store.post_ids
    assert ids[: len(old_ids)].tolist() == old_ids.tolist() and len(ids) == len(old_ids) + waiting
    assert np.array_equal(np.stack([np.asarray(store.scores(j)) for j in range(4)])[:, : len(old_ids)], old_scores)
    with open_catalog(ws, read_only=True) as cat:
        fold = dict(cat.rows("SELECT post_id, fold FROM tagger_folds"))
    for post in ids[len(old_ids) :].tolist():  # each new post scored by a head that never trained on it
        assert post not in np.load(trained_path(folder, fold[post])).tolist()
    new_scores = store.dense(np.arange(len(old_ids), len(ids)), np.arange(len(store.tags)))
    assert not np.isnan(new_scores).any() and new_scores.std() > 0.01
    [topped] = evaluate_taggers(ws, ["kfold-heads"])
    set_config(ws, tagger={"retrain_after_change": 0.001})  # the same change is now too large: train
    retrained = run_train(ws)
    assert retrained.mode == "trained" and "retrain_after_change 0.001" in retrained.why_trained
    assert PredictionStore(folder).segments == []
    [full] = evaluate_taggers(ws, ["kfold-heads"])
    assert abs(topped.overall.macro_ap - full.overall.macro_ap) < 0.02


@pytest.mark.slow
def test_changing_a_training_setting_trains_again_and_so_does_changing_it_back(trained_ws, tmp_path):
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws, ignore=shutil.ignore_patterns(".curate.lock"))
    assert run_train(ws).mode == "topped up"  # nothing changed: the heads stand
    set_config(ws, tagger={"loss": "asymmetric", "early_stopping": True})
    changed = run_train(ws)
    assert changed.mode == "trained" and "training changed" in changed.why_trained
    assert run_train(ws).mode == "topped up"
    set_config(ws, tagger={"loss": "bce", "early_stopping": False})  # back to the defaults: recorded by absence
    back = run_train(ws)
    assert back.mode == "trained" and "training changed" in back.why_trained


def test_the_catalog_records_a_store_relative_to_the_workspace(tmp_path, monkeypatch):
    from pathlib import Path

    from curation.tagger.store import open_recorded, recorded_folder, tagger_folder

    folder = tagger_folder(tmp_path / "ws", "kfold-heads")
    PredictionStore.create(folder, np.arange(3), ["a"], 1, {}).close()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    recorded = recorded_folder(Path("ws"), Path("ws") / "cache" / "predictions" / "kfold-heads")
    assert recorded == str(Path("cache") / "predictions" / "kfold-heads")
    monkeypatch.chdir(tmp_path / "elsewhere")  # a later command run from another directory
    assert open_recorded(tmp_path / "ws", recorded).post_ids.tolist() == [0, 1, 2]
    assert open_recorded(tmp_path / "ws", "ws/cache/predictions/kfold-heads").folder == folder  # an older catalog's row
    assert recorded_folder(tmp_path / "ws", tmp_path / "shared") == str(tmp_path / "shared")


def test_the_tuned_tail_on_the_trunk_maps_is_the_embedder_before_training():
    import torch

    from curation.config import EmbedConfig
    from curation.tagger.finetune import cut_of, load_backbone, tail_module

    embedder = load_backbone(EmbedConfig(image_size=64), "cpu")
    network = embedder.network
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 3, 64, 64)).astype(np.float32))
    trunk = network.bn1(network.conv_stem(x))
    for stage in network.blocks[: cut_of(network, 2)]:
        trunk = stage(trunk)
    tail = tail_module(network, 2).train()  # training mode keeps the ImageNet batch-norm statistics
    assert all(not m.training for m in tail.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    with torch.no_grad():
        tuned = tail(trunk).numpy()
    assert tuned.shape == (3, 1280)
    np.testing.assert_allclose(tuned, embedder.embed(x).astype(np.float32), atol=2e-3)
    loss = tail(trunk).sum()
    loss.backward()
    assert next(tail.blocks.parameters()).grad is not None  # the copy trains; the backbone does not
    assert next(network.blocks[-1].parameters()).grad is None
    with pytest.raises(CurationError, match="finetune_blocks = 9: this backbone has 7 stages"):
        cut_of(network, 9)


def test_finetune_refuses_a_backbone_it_cannot_cut():
    from curation.config import EmbedConfig
    from curation.tagger.finetune import load_backbone

    with pytest.raises(CurationError, match="needs a timm EfficientNet-style embedder"):
        load_backbone(EmbedConfig(model="open_clip:ViT-B-32/laion2b_s34b_b79k"), "cpu")


def test_trunk_maps_are_kept_by_file_and_an_unfinished_part_is_ignored(tmp_path):
    from curation.tagger.finetune import TrunkStore

    store = TrunkStore(tmp_path, "model|pad|#fff|trunk-2")
    maps = np.arange(3 * 2 * 2 * 2, dtype=np.float16).reshape(3, 2, 2, 2)
    store.write(0, ["a", "b", "c"], maps)
    np.save(store.folder / "part_000001.npy", maps)  # killed before its file list was written
    assert store.parts() == [0]
    index = store.index()
    assert index == {"a": (0, 0), "b": (0, 1), "c": (0, 2)}
    np.testing.assert_array_equal(store.gather([index["c"], index["a"]]), maps[[2, 0]])


@pytest.mark.slow
def test_finetuned_heads_predict_every_post_and_top_up_new_ones(trained_ws, tmp_path):
    import shutil

    import torch

    from curation.catalog import open_catalog
    from curation.errors import ConfigError
    from curation.tagger.finetune import TRUNK_DIR
    from curation.tagger.train import head_path, trained_path

    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws, ignore=shutil.ignore_patterns(".curate.lock"))
    set_config(ws, tagger={"finetune": True, "finetune_max_cpu_posts": 20})
    with pytest.raises(ConfigError, match="finetune_max_cpu_posts = 20 posts"):
        run_train(ws)
    with open_catalog(ws, read_only=True) as cat:
        newest = cat.rows(
            "SELECT created_at, group_id IS NULL AND parent_id IS NULL "
            "AND post_id NOT IN (SELECT parent_id FROM posts WHERE parent_id IS NOT NULL) "
            "FROM posts JOIN tagger_folds USING (post_id) LEFT JOIN dup_groups USING (post_id) ORDER BY created_at DESC"
        )
    waiting = min(next(k for k, (_, free) in enumerate(newest) if not free), 3)  # no repost, child or parent among them
    assert waiting >= 2
    set_config(
        ws,
        tagger={"finetune_max_cpu_posts": 20_000, "finetune_epochs": 2, "finetune_blocks": 1, "retrain_after_change": 0},
        select={"created_before": newest[waiting - 1][0]},
    )
    select(ws)
    report = run_train(ws)
    assert report.mode == "trained" and "finetune changed" in report.cold_reason + report.why_trained
    folder = report.folder
    parts = sorted((ws / TRUNK_DIR).rglob("part_*.md5.npy"))
    with open_catalog(ws, read_only=True) as cat:
        files = cat.scalar("SELECT count(DISTINCT file_md5) FROM tagger_folds JOIN images USING (post_id)")
    assert parts and sum(len(np.load(p)) for p in parts) == files  # one set of maps a file
    saved = torch.load(head_path(folder, 0), weights_only=True)
    assert saved["finetune_blocks"] == 1 and any(k.startswith("features.blocks.") for k in saved["state"])
    store = PredictionStore(folder)
    scores = store.dense(np.arange(len(store.post_ids)), np.arange(len(store.tags)))
    assert not np.isnan(scores).any() and scores.std() > 0.01
    old_ids = store.post_ids.copy()
    stamps = [p.stat().st_mtime_ns for p in parts]
    set_config(ws, select={"created_before": None}, tagger={"retrain_after_change": 0.05})
    select(ws)
    topped = run_train(ws)  # the newest posts are predicted by the fine-tuned heads that never saw them
    assert topped.mode == "topped up", topped.why_trained
    assert topped.new_posts == waiting
    store = PredictionStore(folder)
    new_rows = np.arange(len(old_ids), len(store.post_ids))
    new_scores = store.dense(new_rows, np.arange(len(store.tags)))
    assert len(new_rows) == waiting and not np.isnan(new_scores).any() and new_scores.std() > 0.01
    with open_catalog(ws, read_only=True) as cat:
        fold = dict(cat.rows("SELECT post_id, fold FROM tagger_folds"))
    for post in store.post_ids[new_rows].tolist():
        assert post not in np.load(trained_path(folder, fold[post])).tolist()
    assert [p.stat().st_mtime_ns for p in parts] == stamps  # cached maps were read, not recomputed


def test_the_flat_neighbour_search_finds_what_faiss_finds():
    from curation.dedupe.semantic import build_index, flat_knn, knn

    rng = np.random.default_rng(3)
    base = rng.standard_normal((3000, 24)).astype(np.float16)
    base /= np.linalg.norm(base.astype(np.float32), axis=1, keepdims=True).astype(np.float16)
    queries = base[::7] + rng.standard_normal((len(base[::7]), 24)).astype(np.float16) * np.float16(0.1)
    index, description = build_index(base)
    assert description == "flat"
    sims, ids = flat_knn(index, queries, 20)
    want_sims, want_ids = knn(index, queries, 20)
    assert sims.shape == ids.shape == (len(queries), 20)
    assert (ids == want_ids).mean() > 0.999 and np.allclose(sims, want_sims, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 0).all()  # best first
    assert flat_knn(index, queries[:3], 5000)[1].shape == (3, 3000)  # k past the base: all of it
