"""The images stage: statuses for every planted bad file, policies, caching, and the hash
functions on images with known transforms."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from curation.errors import ConfigError, CurationError
from curation.images import hamming, inspect_file, run_images
from curation.images.hashing import (
    flatten_alpha,
    perceptual_hashes,
    picture_hashes,
    pixel_digest,
    raw_chunks,
    shrink,
    to_8bit,
    trim_border,
)
from curation.ingest import ingest
from curation.select import select
from curation.workspace import init_workspace


def drawing(size=(120, 90), seed=0) -> Image.Image:
    """A small RGB picture with structure (blocks of colour), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)


@pytest.fixture(scope="module")
def images_ws(board2021, tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("img") / "ws"
    init_workspace(ws, [board2021])
    text = (
        (ws / "curate.toml")
        .read_text()
        .replace("drop_deleted = true\ndrop_banned = true", "drop_deleted = false\ndrop_banned = false")
    )
    (ws / "curate.toml").write_text(text + "\n")
    ingest(ws)
    select(ws)
    return ws


def images_table(ws: Path) -> dict[int, tuple]:
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    return {
        r[0]: r[1:] for r in con.execute("SELECT post_id, status, error, frames, has_alpha, file_md5, md5 FROM images").fetchall()
    }


def test_every_bad_file_gets_the_status_truth_expects(images_ws, board2021):
    report = run_images(images_ws)
    table = images_table(images_ws)
    truth = pl.read_parquet(board2021 / "truth" / "posts.parquet")
    assert report.inspected == truth.height == len(table)
    bad = pl.read_parquet(board2021 / "truth" / "bad_files.parquet")
    for post_id, problem, expected in bad.select("post_id", "problem", "expected_status").iter_rows():
        status, error, *_ = table[post_id]
        assert status == expected, (problem, status, error)
        if expected != "ok":
            assert error, problem
    for row in truth.iter_rows(named=True):
        status, error, frames, has_alpha, file_md5, md5 = table[row["post_id"]]
        if row["post_id"] in set(bad["post_id"]):
            continue
        assert file_md5 == md5 == row["md5"]
        animated = "animated" in row["true_tags"]
        assert status == ("animated" if animated else "ok")
        assert has_alpha == ("transparent_background" in row["true_tags"])


def test_a_second_run_inspects_only_what_changed(images_ws, monkeypatch):
    import curation.images.stage as stage

    run_images(images_ws)
    before = images_table(images_ws)
    calls = []
    monkeypatch.setattr(stage, "inspect_file", lambda *a, **k: calls.append(a) or inspect_file(*a, **k))
    text = (images_ws / "curate.toml").read_text()
    (images_ws / "curate.toml").write_text(text.replace("[images]\n", "[images]\nworkers = 1\n"))
    try:
        assert run_images(images_ws).inspected == 0
        con = duckdb.connect(str(images_ws / "catalog.duckdb"))
        ok_post = con.execute("SELECT post_id FROM images WHERE status = 'ok' ORDER BY post_id LIMIT 1").fetchall()[0][0]
        con.execute("DELETE FROM images WHERE post_id = ?", [ok_post])
        con.close()
        report = run_images(images_ws)
        assert report.inspected == 1 and calls == []  # the file's md5 was hashed before: checked, not decoded
        assert images_table(images_ws) == before
    finally:
        (images_ws / "curate.toml").write_text(text)


def test_policies_and_config_errors(images_ws, tmp_path):
    text = (images_ws / "curate.toml").read_text()
    try:
        (images_ws / "curate.toml").write_text(
            text.replace("[images]\n", "[images]\ndrop_animated = false\ndrop_transparent = true\n")
        )
        con = duckdb.connect(str(images_ws / "catalog.duckdb"))
        con.execute("DELETE FROM images")
        con.close()
        report = run_images(images_ws)
        assert report.statuses["animated"] == 0 and report.statuses["transparent"] > 0
        (images_ws / "curate.toml").write_text(text.replace("[images]\n", '[images]\nalpha_background = "plaid"\n'))
        with pytest.raises(ConfigError, match=r"\[images\] alpha_background = 'plaid': not a colour"):
            run_images(images_ws)
    finally:
        (images_ws / "curate.toml").write_text(text)
        con = duckdb.connect(str(images_ws / "catalog.duckdb"))
        con.execute("DELETE FROM images")
        con.close()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text('[[sources]]\npath = "x.json"\nformat = "danbooru2021"\n')
    with pytest.raises(ConfigError, match="no \\[\\[sources\\]\\] entry has an `images` folder"):
        run_images(ws)
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "x.json"\nformat = "danbooru2021"\nimages = "{tmp_path}"\n')
    with pytest.raises(CurationError, match="no catalog yet; run `curate ingest"):
        run_images(ws)


def test_a_folder_of_mixed_formats(tmp_path):
    img = drawing()
    saved = {}
    for name, fmt, mode in (
        ("a.ppm", "PPM", "RGB"),
        ("a.pgm", "PPM", "L"),
        ("a.pbm", "PPM", "1"),
        ("a.tiff", "TIFF", "RGB"),
        ("a.bmp", "BMP", "RGB"),
        ("a.webp", "WEBP", "RGB"),
        ("a.gif", "GIF", "P"),
    ):
        img.convert(mode).save(tmp_path / name, format=fmt)
        saved[name] = "ok"
    img.save(tmp_path / "a.mpo", format="MPO", save_all=True, append_images=[drawing(seed=1)])
    saved["a.mpo"] = "ok"
    (tmp_path / "drawing.jpg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>')
    saved["drawing.jpg"] = "corrupt"
    for name, expected in saved.items():
        result = inspect_file(tmp_path / name, 10_000_000)
        assert result.status == expected, (name, result.error)
        if expected == "ok":
            assert result.phash is not None and (result.width, result.height) == (120, 90)
    assert inspect_file(tmp_path / "a.mpo", 10_000_000).frames == 2


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_mirror_hashes_catch_flipped_reposts():
    img = drawing()
    original, flipped = perceptual_hashes(img), perceptual_hashes(ImageOps.mirror(img))
    assert flipped["phash"] == original["phash_mirror"] and flipped["dhash"] == original["dhash_mirror"]
    assert hamming(original["phash"], flipped["phash"]) > 10


def test_trim_border_undoes_padding_but_keeps_flat_images():
    img = drawing()
    for colour in ((0, 0, 0), (255, 255, 255)):
        padded = ImageOps.expand(img, border=(30, 0, 30, 0), fill=colour)
        assert trim_border(padded).size == img.size
    flat = Image.new("RGB", (100, 100), (200, 10, 10))
    assert trim_border(flat).size == (100, 100)
    framed_dot = Image.new("RGB", (100, 100), (255, 255, 255))
    framed_dot.putpixel((50, 50), (0, 0, 0))
    assert trim_border(framed_dot).size == (100, 100)  # a 'border' of 98% is the picture itself


def test_pixel_digest_and_alpha():
    img = drawing()
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    jpeg = Image.open(io.BytesIO(buf.getvalue()))
    lossless = Image.open(io.BytesIO(_png(jpeg.convert("RGB"))))
    assert pixel_digest(jpeg) == pixel_digest(lossless)
    buf2 = io.BytesIO()
    img.save(buf2, format="JPEG", quality=60)
    assert pixel_digest(Image.open(io.BytesIO(buf2.getvalue()))) != pixel_digest(jpeg)
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.new("L", img.size, 0))
    assert flatten_alpha(rgba, (255, 255, 255)).getextrema() == ((255, 255), (255, 255), (255, 255))
    grey16 = Image.fromarray(np.asarray(img.convert("L"), np.uint16) * 257)
    assert to_8bit(grey16).getextrema() == img.convert("L").getextrema()


def test_pixel_digest_streams_exactly_the_picture_bytes():
    rng = np.random.default_rng(3)
    for mode, size in (("RGB", (1500, 900)), ("RGBA", (333, 1201)), ("RGB", (1, 1))):
        img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8), mode)
        assert b"".join(raw_chunks(img, chunk_bytes=70_000)) == img.tobytes()
        header = f"{mode}:{size[0]}x{size[1]}:".encode()
        assert pixel_digest(img) == hashlib.sha256(header + img.tobytes()).hexdigest()


def test_transparent_pictures_reduced_before_flattening_hash_like_flattened_ones():
    """picture_hashes reduces a transparent picture before compositing it (premultiplied, so
    it matches compositing at full size up to rounding): the hashes stay within a bit or two."""
    img = drawing(size=(768, 512)).convert("RGBA")
    alpha = np.zeros((512, 768), np.uint8)
    alpha[60:450, 100:700] = 255
    alpha[200:260, :] = 128
    img.putalpha(Image.fromarray(alpha, "L"))
    reduced_first = picture_hashes(img, (255, 255, 255), transparent=True)
    flattened_first = perceptual_hashes(trim_border(shrink(flatten_alpha(img, (255, 255, 255)))))
    assert hamming(reduced_first["phash"], flattened_first["phash"]) <= 2
    assert hamming(reduced_first["dhash"], flattened_first["dhash"]) <= 2


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_hamming_distance_is_a_metric_on_64_bits(a, b):
    assert 0 <= hamming(a, b) <= 64
    assert hamming(a, b) == hamming(b, a)
    assert (hamming(a, b) == 0) == (a == b)


def test_a_transparent_drawing_and_its_copy_on_a_colour_hash_alike_once_whitened():
    from curation.config import DedupeConfig
    from curation.images.hashing import picture_hashes

    defaults = DedupeConfig()  # what `curate dedupe` matches with
    shape = Image.new("L", (120, 90), 0)
    shape.paste(255, (20, 10, 70, 80))
    shape.paste(255, (80, 40, 110, 60))
    drawing_rgba = drawing().convert("RGBA")
    drawing_rgba.putalpha(shape)
    base = picture_hashes(drawing_rgba, (255, 255, 255), transparent=True)
    assert base["bg_phash"] is not None
    for colour in ((0, 0, 0), (245, 130, 190), (128, 128, 128)):
        copy = Image.alpha_composite(Image.new("RGBA", (120, 90), colour + (255,)), drawing_rgba).convert("RGB")
        hashes = picture_hashes(copy, (255, 255, 255), transparent=False)
        assert hamming(base["bg_phash"], hashes["bg_phash"]) <= defaults.background_radius, colour
        assert hamming(base["bg_dhash"], hashes["bg_dhash"]) <= defaults.background_dhash_radius, colour
    assert picture_hashes(drawing(), (255, 255, 255), transparent=False)["bg_phash"] is None  # no flat background


def test_perceptual_hashes_match_imagehash():
    import imagehash

    from curation.images.hashing import perceptual_hashes as ours

    img = drawing()
    expect = {name: int(str(fn(img)), 16) for name, fn in (("phash", imagehash.phash), ("dhash", imagehash.dhash))}
    got = ours(img)
    assert hamming(got["phash"], expect["phash"]) <= 1 and got["dhash"] == expect["dhash"]


def test_catalogs_from_earlier_versions_gain_the_new_columns(tmp_path):
    from curation.catalog import Catalog

    old = duckdb.connect(str(tmp_path / "catalog.duckdb"))
    old.execute(
        "CREATE TABLE image_hashes (md5 VARCHAR PRIMARY KEY, pixel_sha256 VARCHAR, phash UBIGINT, dhash UBIGINT, "
        "phash_mirror UBIGINT, dhash_mirror UBIGINT, information REAL)"
    )
    old.close()
    with Catalog(tmp_path / "catalog.duckdb") as cat:
        columns = [r[0] for r in cat.rows("DESCRIBE image_hashes")]
    assert {
        "width",
        "height",
        "has_alpha",
        "frames",
        "format",
        "mode",
        "bg_phash",
        "bg_dhash",
        "bg_information",
        "hash_version",
        "unpadded_phash",
    } <= set(columns)


def test_uniform_margins_and_the_unpadded_phash():
    """Exactly flat outer rows and columns are letterbox padding; grain is not. Cut off, a
    padded thumbnail hashes as its original's whole thumbnail does."""
    from curation.images.hashing import _low_frequencies, _pack, uniform_margins, unpadded_phash

    rng = np.random.default_rng(0)
    grainy = rng.integers(236, 252, (64, 48), dtype=np.uint8)
    grainy[30:40, 10:22] = 90  # a small glyph
    padded = np.full((64, 64), 250, np.uint8)
    padded[:, 8:56] = grainy
    assert uniform_margins(padded) == (0, 0, 8, 8)
    assert uniform_margins(grainy) == (0, 0, 0, 0) and unpadded_phash(grainy) == 0
    _, low = _low_frequencies(Image.fromarray(grainy))
    assert unpadded_phash(padded) == _pack(low > np.median(low))
    two_colours = padded.copy()
    two_colours[:, :4] = 20  # left padding in two flat greys: only the outer one is one margin
    assert uniform_margins(two_colours)[2] == 4
    assert uniform_margins(np.full((30, 30), 7, np.uint8)) == (10, 10, 10, 10)  # flat: a third from each side at most
    assert unpadded_phash(np.full((12, 12), 7, np.uint8)) == 0  # too little left
    assert uniform_margins(np.zeros((2, 1), np.uint8)) == (0, 0, 0, 0)  # a sliver: nothing to cut


def test_thumbnail_hashes_are_filled_from_stored_thumbnails(images_ws, monkeypatch):
    """A catalog hashed before the columns existed gets them from its thumbnails, no file decoded."""
    import curation.images.stage as stage

    run_images(images_ws)
    columns = "unpadded_phash, turned_phash_90, turned_phash_180, turned_phash_270, region_phashes"
    query = f"SELECT md5, {columns} FROM image_hashes WHERE thumb IS NOT NULL ORDER BY md5"
    con = duckdb.connect(str(images_ws / "catalog.duckdb"))
    before = con.execute(query).fetchall()
    con.execute(f"UPDATE image_hashes SET ({columns}) = (NULL, NULL, NULL, NULL, NULL)")
    con.close()
    monkeypatch.setattr(stage, "inspect_file", lambda *a, **k: pytest.fail("no file should be decoded"))
    assert run_images(images_ws).inspected == 0
    con = duckdb.connect(str(images_ws / "catalog.duckdb"))
    after = con.execute(query).fetchall()
    con.close()
    assert after == before and len(before) > 10
    unpadded = [r[1] for r in before]
    assert any(unpadded) and not all(unpadded) and all(all(r[2:]) for r in before)
    assert all(len(r[5]) == 8 * 13 for r in before)  # nine region pHashes a thumbnail and four corners
    con = duckdb.connect(str(images_ws / "catalog.duckdb"))  # region pHashes of the older layout: nine
    con.execute("UPDATE image_hashes SET region_phashes = ?", [bytes(72)])
    con.close()
    assert run_images(images_ws).inspected == 0
    con = duckdb.connect(str(images_ws / "catalog.duckdb"))
    assert con.execute(query).fetchall() == before
    con.close()


def test_a_turned_picture_hashes_like_the_turned_thumbnail_of_its_original():
    from curation.images.hashing import thumbnail

    img = drawing()
    original = thumbnail(img, None)
    for degrees, turn in ((90, Image.Transpose.ROTATE_90), (180, Image.Transpose.ROTATE_180), (270, Image.Transpose.ROTATE_270)):
        turned = thumbnail(img.transpose(turn), None)
        assert hamming(turned["thumb_phash"], original[f"turned_phash_{degrees}"]) <= 2, degrees
        assert hamming(turned["thumb_phash"], original["thumb_phash"]) > 16  # turned, it is another picture to a pHash


def test_jpeg_draft_decoding_reads_every_byte_and_hashes_alike(tmp_path):
    """With jpeg_draft a board-sized JPEG is decoded at the reduction the hashes need: the same
    recorded size, hashes within a few bits of a full decode, a truncated file still corrupt, a
    copy with the same coefficients still the same pixels, and never the same pixels as a
    lossless copy's full decode."""
    big = drawing((1536, 1152), seed=3)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    (tmp_path / "a.jpg").write_bytes(data)
    full, draft = inspect_file(tmp_path / "a.jpg", 10**8), inspect_file(tmp_path / "a.jpg", 10**8, jpeg_draft=True)
    assert (draft.status, draft.width, draft.height) == ("ok", 1536, 1152)
    assert hamming(full.phash, draft.phash) <= 4 and hamming(full.dhash, draft.dhash) <= 6
    assert draft.pixel_sha256 != full.pixel_sha256
    comment = b"reposted"
    (tmp_path / "b.jpg").write_bytes(data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:])
    assert inspect_file(tmp_path / "b.jpg", 10**8, jpeg_draft=True).pixel_sha256 == draft.pixel_sha256
    Image.open(io.BytesIO(data)).save(tmp_path / "c.png")  # the JPEG's full pixels, losslessly
    assert inspect_file(tmp_path / "c.png", 10**8, jpeg_draft=True).pixel_sha256 == full.pixel_sha256 != draft.pixel_sha256
    (tmp_path / "t.jpg").write_bytes(data[: len(data) * 2 // 3])
    assert inspect_file(tmp_path / "t.jpg", 10**8, jpeg_draft=True).status == "corrupt"
    small = drawing((200, 150))
    small.save(tmp_path / "s.jpg", format="JPEG", quality=90)
    Image.open(tmp_path / "s.jpg").save(tmp_path / "s.png")  # too small to reduce: full pixels, as the PNG copy
    assert (
        inspect_file(tmp_path / "s.jpg", 10**8, jpeg_draft=True).pixel_sha256
        == inspect_file(tmp_path / "s.png", 10**8).pixel_sha256
    )


def test_worker_processes_open_files_under_the_workspace_pixel_limit(tmp_path, monkeypatch):
    """Pillow's guard is a module global: spawned workers (dedupe's keypoint checks, embedding
    loaders) must take the workspace's ``[images] max_pixels``, not Pillow's default."""
    from curation.context import stage_context
    from curation.dedupe.reread import read_keypoint_grey
    from curation.images.limits import ENV_MAX_PIXELS, pixel_limit
    from curation.processes import worker_pool

    monkeypatch.delenv(ENV_MAX_PIXELS, raising=False)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(
        f'[[sources]]\npath = "x.json"\nformat = "danbooru2021"\nimages = "{tmp_path}"\n\n[images]\nmax_pixels = 5000\n'
    )
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    drawing((60, 50)).save(small)  # 3,000 pixels
    drawing((120, 100)).save(large)  # 12,000: over twice the limit, refused as a bomb
    stage_context(ws)
    assert pixel_limit() == 5000
    with worker_pool(1) as pool:
        assert pool.submit(pixel_limit).result() == 5000
        assert pool.submit(read_keypoint_grey, str(small), (255, 255, 255)).result() is not None
        assert pool.submit(read_keypoint_grey, str(large), (255, 255, 255)).result() is None
