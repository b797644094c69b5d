"""Booru reposting pitfalls through the whole path (ingest, select, images, dedupe), on a tiny
hand-made board whose answers are known: what must group, and what must not."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from curation.config import DedupeConfig
from curation.dedupe import run_dedupe
from curation.embed import run_embed
from curation.images import run_images
from curation.ingest import ingest
from curation.select import select


def picture(seed: int, size=(256, 192), background=(200, 220, 240, 255), alpha=False) -> Image.Image:
    """Shapes in seeded colours and places on a background (RGBA; transparent when ``alpha``)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", size, (0, 0, 0, 0) if alpha else background)
    d = ImageDraw.Draw(img)
    for _ in range(7):
        x, y = int(rng.integers(10, size[0] - 60)), int(rng.integers(10, size[1] - 60))
        w, h = int(rng.integers(20, 60)), int(rng.integers(20, 60))
        colour = tuple(int(c) for c in rng.integers(0, 200, 3)) + (255,)
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x, y, x + w, y + h], fill=colour, outline=(20, 20, 20, 255), width=3)
    return img


def encode(img: Image.Image, ext: str) -> bytes:
    buf = io.BytesIO()
    if ext == "jpg":
        img.convert("RGB").save(buf, format="JPEG", quality=92)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def on(img: Image.Image, colour) -> Image.Image:
    return Image.alpha_composite(Image.new("RGBA", img.size, colour + (255,)), img)


def pad(img: Image.Image, colour, square=True) -> Image.Image:
    w, h = img.size
    side = max(w, h)
    out = Image.new("RGBA", (side, side) if square else (w + 40, h + 40), colour + (255,))
    out.paste(img, ((out.width - w) // 2, (out.height - h) // 2))
    return out


def sketch(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", (256, 256), (255, 255, 255, 255))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        pts = [tuple(int(v) for v in rng.integers(10, 246, 2)) for _ in range(3)]
        d.line(pts, fill=(30, 30, 30, 255), width=2)
    return img


def near_flat(shape: str, colour=(230, 120, 180, 255), at=(176, 130)) -> Image.Image:
    """A near-empty canvas with one small glyph: too flat to judge by hash alone."""
    img = Image.new("RGBA", (256, 192), (245, 245, 245, 255))
    d = ImageDraw.Draw(img)
    x, y = at
    if shape == "bolt":
        d.polygon(
            [(x + 4, y), (x + 16, y), (x + 10, y + 12), (x + 20, y + 12), (x + 2, y + 32), (x + 8, y + 16), (x, y + 16)],
            fill=colour,
        )
    else:
        d.ellipse([x, y + 2, x + 20, y + 30], fill=colour)
    return img


def tiny_square(at=(118, 120)) -> Image.Image:
    """A near-white canvas with one small outlined square: spread about 1.5 grey levels, under the
    near-flat pictures of :func:`near_flat` (2 to 10) and over the truly flat."""
    img = Image.new("RGBA", (512, 288), (244, 244, 244, 255))
    x, y = at
    ImageDraw.Draw(img).rectangle([x, y, x + 16, y + 16], outline=(220, 150, 30, 255), width=3)
    return img


def blurred_upscale(img: Image.Image, radius=1.3, scale=1.6) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius)).resize((round(img.width * scale), round(img.height * scale)))


def glyph(shape: str) -> Image.Image:
    """:func:`near_flat`'s glyph alone on a transparent canvas (about 1% of its pixels opaque)."""
    img = near_flat(shape, colour=(40, 60, 160, 255), at=(100, 60))
    alpha = np.where(np.asarray(img)[..., 0] == 40, 255, 0).astype(np.uint8)
    img.putalpha(Image.fromarray(alpha, "L"))
    return img


def grainy_glyph(seed: int) -> Image.Image:
    """A small glyph on a grainy near-white canvas: no flat border for the trim to find."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(239, 250, (205, 154, 3), dtype=np.uint8), "RGB").convert("RGBA")
    ImageDraw.Draw(img).polygon([(40, 105), (58, 100), (63, 118), (45, 124)], fill=(120, 80, 30, 255))
    return img


def wide_grain() -> Image.Image:
    """Two thin glyphs on a wide grainy near-white canvas: a square letterbox of it is near-flat."""
    img = Image.fromarray(np.random.default_rng(0).integers(238, 251, (144, 256, 3), dtype=np.uint8), "RGB").convert("RGBA")
    d = ImageDraw.Draw(img)
    d.arc([70, 50, 100, 90], 60, 300, fill=(40, 170, 160, 255), width=3)
    d.polygon([(140, 45), (155, 45), (146, 62), (158, 62), (138, 95), (146, 70), (134, 70)], outline=(60, 170, 60, 255), width=2)
    return img


# post id -> (image, ext, parent_id); expected groups below
BOARD = {
    1: (picture(1), "png", None),
    2: (pad(picture(1), (0, 0, 0)), "jpg", None),  # black letterbox
    3: (pad(picture(1), (255, 255, 255), square=False), "jpg", None),  # white margin
    4: (ImageOps.mirror(picture(1)), "jpg", None),  # flipped repost
    5: (picture(1).crop((26, 0, 256, 170)), "jpg", None),  # cropped repost (10% of the left, 11% of the bottom)
    10: (picture(2, alpha=True), "png", None),  # transparent original
    11: (on(picture(2, alpha=True), (0, 0, 0)), "jpg", None),  # on black
    12: (on(picture(2, alpha=True), (245, 130, 190)), "png", None),  # on pink
    20: (sketch(3), "png", None),  # monochrome sketch
    21: (sketch(3).resize((180, 180)), "jpg", None),  # its resize
    30: (picture(4), "png", None),  # parent
    31: (picture(4), "png", 30),  # child: same drawing, one small shape more
    40: (Image.new("RGBA", (200, 200), (200, 30, 30, 255)), "png", None),  # flat red
    41: (Image.new("RGBA", (200, 200), (30, 30, 200, 255)), "png", None),  # flat blue: must not group with red
    42: (Image.new("RGBA", (200, 200), (250, 250, 250, 255)), "png", None),  # flat near-white
    50: (picture(5), "jpg", None),  # unrelated drawings: alone
    51: (picture(6), "jpg", None),
    52: (picture(5).crop((0, 20, 230, 192)), "png", None),  # a crop of 50 (no hash of the whole picture matches it)
    60: (near_flat("bolt"), "png", None),  # near-flat: one small glyph on an empty canvas
    61: (near_flat("bolt"), "jpg", None),  # its re-encode
    62: (near_flat("ellipse", at=(40, 20)), "png", None),  # another glyph elsewhere: alone
    63: (tiny_square(), "png", None),  # a smaller glyph still: spread about 1.5
    64: (blurred_upscale(tiny_square()), "jpg", None),  # its blurred upscale
    65: (tiny_square(at=(380, 60)), "png", None),  # the same square elsewhere: alone
    70: (glyph("bolt"), "png", None),  # a small glyph on a transparent canvas
    71: (on(glyph("bolt"), (245, 130, 190)), "jpg", None),  # its copy on pink: a near-flat picture
    72: (on(glyph("ellipse"), (245, 130, 190)), "jpg", None),  # another glyph at that place on pink: alone
    80: (grainy_glyph(1), "jpg", None),  # a small glyph on grain
    81: (pad(grainy_glyph(1), (250, 250, 250)), "jpg", None),  # letterboxed: trimmed pHashes 12 bits apart
    82: (wide_grain(), "jpg", None),  # faint glyphs on grain (thumbnail spread < 12)
    83: (pad(wide_grain(), (250, 250, 250)), "jpg", None),  # squared: the copy is near-flat
}
ImageDraw.Draw(BOARD[31][0]).rectangle([212, 150, 226, 164], fill=(10, 160, 10, 255))  # one small element added
EXPECTED = [{1, 2, 3, 4, 5}, {10, 11, 12}, {20, 21}, {30, 31}, {50, 52}, {60, 61}, {63, 64}, {70, 71}, {80, 81}, {82, 83}]


@pytest.fixture(scope="module")
def pitfall_ws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pitfalls")
    rows = []
    for post_id, (img, ext, parent) in BOARD.items():
        data = encode(img, ext)
        path = root / "original" / f"{post_id % 1000:04d}" / f"{post_id}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append(
            {
                "id": post_id,
                "created_at": "2020-01-01T00:00:00.000Z",
                "rating": "g",
                "md5": hashlib.md5(data).hexdigest(),
                "file_ext": ext,
                "image_width": img.width,
                "image_height": img.height,
                "parent_id": parent,
                "tag_string_general": "test",
            }
        )
    (root / "posts000000000000.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ws = root / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(
        f'[[sources]]\npath = "{root}/posts000000000000.json"\nformat = "danbooru2021"\nimages = "{root}/original"\n'
    )
    for stage in (ingest, select, run_images, run_embed, run_dedupe):
        stage(ws)
    return ws


def test_pitfalls_group_what_must_and_nothing_else(pitfall_ws):
    con = duckdb.connect(str(pitfall_ws / "catalog.duckdb"), read_only=True)
    groups: dict[int, set[int]] = {}
    for post_id, group_id in con.execute("SELECT post_id, group_id FROM dup_groups").fetchall():
        groups.setdefault(group_id, set()).add(post_id)
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, EXPECTED))
    kinds: dict[tuple[int, int], set[str]] = {}
    for a, b, k in con.execute("SELECT post_a, post_b, kind FROM dup_edges").fetchall():
        kinds.setdefault((a, b), set()).add(k)
    assert kinds[(30, 31)] == {"variant"}
    assert "mirror" in set().union(*(k for (a, b), k in kinds.items() if 4 in (a, b)))
    assert "background" in set().union(*(k for (a, b), k in kinds.items() if {a, b} & {11, 12}))
    assert kinds[(50, 52)] >= {"aligned"}  # the crop's pixels lie inside its original's
    assert kinds[(70, 71)] == {"composite"}  # too small a drawing for any other check
    letterbox = con.execute("SELECT distance FROM dup_edges WHERE post_a = 80 AND post_b = 81 AND kind = 'aligned'").fetchall()
    assert (
        letterbox and letterbox[0][0] is not None and letterbox[0][0] <= 2
    )  # proposed by hashes: 81's thumbnail less its padding against 80's
    squared = con.execute("SELECT distance FROM dup_edges WHERE post_a = 82 AND post_b = 83 AND kind = 'aligned'").fetchall()
    assert squared and squared[0][0] is not None  # proposed by hashes though 83 is near-flat
    assert con.execute("SELECT has_alpha FROM images WHERE post_id = 10").fetchall() == [(True,)]
    info = dict(
        con.execute(
            "SELECT i.post_id, h.information FROM images i JOIN image_hashes h ON h.md5 = i.file_md5 "
            "WHERE i.post_id IN (60, 61, 63, 64, 65)"
        ).fetchall()
    )
    assert all(2.0 <= info[p] < DedupeConfig().min_information for p in (60, 61))  # grouped through their pixels
    assert all(DedupeConfig().near_flat_floor <= info[p] < 2.0 for p in (63, 64, 65))  # fainter, still judged by pixels


def test_letterbox_around_a_near_white_background(tmp_path):
    """Black padding around a near-white background: the copy is trimmed layer by layer (the
    padding, then the background) and so cut like its original."""
    from curation.images.inspect import inspect_file

    original = picture(1, background=(240, 240, 240, 255))
    (tmp_path / "a.png").write_bytes(encode(original, "png"))
    (tmp_path / "b.jpg").write_bytes(encode(pad(original, (0, 0, 0)), "jpg"))
    a, b = inspect_file(tmp_path / "a.png", 10**8), inspect_file(tmp_path / "b.jpg", 10**8)
    from curation.images import hamming

    assert hamming(a.phash, b.phash) <= 7


@pytest.mark.parametrize("seed", [0, 1, 4, 7])
def test_white_letterbox_around_a_near_black_picture(seed, tmp_path):
    """White padding, then a near-black background: the reduced copy has a grey line where the
    two meet, which must not stop the trim before the background (it would leave the copy
    cut unlike its original: pHashes 26-36 bits apart before)."""
    from curation.images import hamming
    from curation.images.inspect import inspect_file

    rng = np.random.default_rng(seed)
    original = Image.new("RGB", (250, 333), (22, 22, 22))
    d = ImageDraw.Draw(original)
    for _ in range(5):
        x, y, w, h = (int(v) for v in (rng.integers(40, 150), rng.integers(40, 230), rng.integers(20, 60), rng.integers(20, 60)))
        d.ellipse([x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(60, 255, 3)))
    letterboxed = Image.new("RGB", (333, 333), (255, 255, 255))
    letterboxed.paste(original, (41, 0))
    original.save(tmp_path / "a.png")
    letterboxed.save(tmp_path / "b.jpg", quality=90)
    a, b = inspect_file(tmp_path / "a.png", 10**8, jpeg_draft=True), inspect_file(tmp_path / "b.jpg", 10**8, jpeg_draft=True)
    assert hamming(a.phash, b.phash) <= DedupeConfig().phash_radius and hamming(a.dhash, b.dhash) <= DedupeConfig().dhash_radius


def outlined(seed: int) -> Image.Image:
    """Shapes with bold black outlines on a transparent canvas."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    for _ in range(4):
        x, y = int(rng.integers(10, 150)), int(rng.integers(10, 150))
        w, h = int(rng.integers(50, 100)), int(rng.integers(50, 100))
        colour = tuple(int(c) for c in rng.integers(120, 255, 3)) + (255,)
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x, y, x + w, y + h], fill=colour, outline=(0, 0, 0, 255), width=12)
    return img


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_outlined_transparent_drawing_reposted_on_black(seed, tmp_path):
    """Black outlines vanish into a black background when the copy is whitened, so the copy no
    longer looks like the original on white; the original is also hashed flattened on black
    and whitened, which is what such a copy looks like."""
    from curation.images import hamming
    from curation.images.inspect import inspect_file

    original = outlined(seed)
    (tmp_path / "a.png").write_bytes(encode(original, "png"))
    (tmp_path / "b.jpg").write_bytes(encode(on(original, (0, 0, 0)), "jpg"))
    a, b = inspect_file(tmp_path / "a.png", 10**8), inspect_file(tmp_path / "b.jpg", 10**8)
    assert a.has_alpha and not b.has_alpha and b.bg_black_phash is None
    assert hamming(b.bg_phash, a.bg_phash) > 6  # on white, the outlines are there: no match
    assert hamming(b.bg_phash, a.bg_black_phash) <= 2 and hamming(b.bg_dhash, a.bg_black_dhash) <= 2


def dedupe_with(ws: Path, setting: str) -> tuple[dict[int, int], set[str]]:
    """Dedupe ``ws`` once with one extra ``[dedupe]`` line: (post -> group, edge kinds); the
    board's config and groups are restored afterwards."""
    text = (ws / "curate.toml").read_text()
    try:
        (ws / "curate.toml").write_text(text + f"\n[dedupe]\n{setting}\n")
        run_dedupe(ws)
        con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
        grouped = dict(con.execute("SELECT post_id, group_id FROM dup_groups").fetchall())
        kinds = {k for (k,) in con.execute("SELECT DISTINCT kind FROM dup_edges").fetchall()}
        con.close()
        return grouped, kinds
    finally:
        (ws / "curate.toml").write_text(text)
        run_dedupe(ws)


def test_without_alignment_the_crop_is_found_by_keypoints_alone(pitfall_ws):
    """The crop of 50 is found by aligning pixels and by matching keypoints: with `align =
    false` a keypoint edge still joins it to 50; with keypoints off too it stays alone (and the
    rest of the board groups as before)."""
    grouped, kinds = dedupe_with(pitfall_ws, "align = false")
    assert grouped.get(52) is not None and grouped.get(52) == grouped.get(50) and "aligned" not in kinds
    assert kinds & {"cropped", "resized"}
    grouped, kinds = dedupe_with(pitfall_ws, "align = false\nkeypoints = false")
    assert 52 not in grouped and grouped[10] == grouped[11] == grouped[12] and "aligned" not in kinds


def test_without_the_composite_model_the_small_transparent_glyph_is_found_only_by_keypoints(pitfall_ws):
    """The glyph's copy on pink: the composite model finds it; without it, the keypoints do (many
    of them fit one transform of one canvas, though all on the small glyph); without both, nothing."""
    grouped, kinds = dedupe_with(pitfall_ws, "composite = false")
    assert grouped.get(70) is not None and grouped.get(70) == grouped.get(71) and "composite" not in kinds
    grouped, kinds = dedupe_with(pitfall_ws, "composite = false\nkeypoints = false")
    assert 70 not in grouped and 71 not in grouped and grouped[10] == grouped[11] == grouped[12]
    assert "composite" not in kinds
