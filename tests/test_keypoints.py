"""Keypoint matching (curation.dedupe.keypoints): a copy with censor bars matches its original
under one similarity transform and agrees on the pixels outside the bars; a different picture
reusing part of the same shapes does not; keypoints survive the catalog's packing. Crops and
small turns are measured on synthetic boards (BENCHMARKS.md), whose drawings the limits were
set on."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_align import thumb

from curation.dedupe.keypoints import RELATIONS, KeypointLimits, Match, decode, encode, verify_pair
from curation.images.hashing import WHITE, keypoint_grey, picture_hashes
from curation.images.keypoints import Keypoints, find_keypoints

LIMITS = KeypointLimits()


def scene(seed: int, size=(256, 200)) -> Image.Image:
    """Many small outlined shapes in seeded colours and places: corners for keypoints everywhere."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (235, 230, 220))
    d = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        w, h = int(rng.integers(8, 30)), int(rng.integers(8, 30))
        colour = tuple(int(c) for c in rng.integers(0, 220, 3))
        shape = d.ellipse if rng.random() < 0.4 else d.rectangle
        shape([x, y, x + w, y + h], fill=colour, outline=(15, 15, 15), width=2)
    return img


def points(img: Image.Image) -> Keypoints:
    found = find_keypoints(img.convert("L"))
    assert found is not None
    return found


def grey(img: Image.Image):
    """The reader the dedupe stage passes: the picture's grey in its keypoint frame."""
    return lambda: np.asarray(keypoint_grey(img, WHITE), dtype=np.float32)


def match(a: Image.Image, b: Image.Image) -> Match | None:
    return verify_pair(points(a), points(b), thumb(a), thumb(b), grey(a), grey(b), LIMITS)


def censored(img: Image.Image) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    d.rectangle([40, 60, 120, 80], fill=(0, 0, 0))
    d.rectangle([150, 120, 230, 138], fill=(0, 0, 0))
    return out


@pytest.mark.parametrize("make,relation", [(censored, "edited")])
def test_a_repost_matches_its_original_and_says_how(make, relation):
    original = scene(1)
    found = match(original, make(original))
    assert found is not None
    assert found.relation == relation
    assert found.correlation >= LIMITS.threshold and found.inliers >= LIMITS.min_inliers


def test_a_different_picture_with_the_same_shapes_moved_does_not_match():
    original = scene(1)
    other = scene(2)
    # the left half of the original pasted into another scene: many keypoints agree on one part
    other.paste(original.crop((0, 0, 100, 200)), (0, 0))
    assert match(original, other) is None
    assert match(original, scene(3)) is None


def test_keypoints_pack_and_unpack_as_the_catalog_keeps_them():
    img = scene(4, size=(1024, 800))  # reduced to the 256-pixel frame first
    found = points(img)
    assert 4 <= len(found.xy) <= 128 and found.xy.max() <= 256
    back = Keypoints.unpack(*found.pack())
    assert np.array_equal(back.descriptors, found.descriptors)
    assert np.abs(back.xy - found.xy).max() < 0.2  # float16 in a 256-pixel frame
    stored = Keypoints.unpack(*(picture_hashes(img, WHITE, False)[k] for k in ("keypoint_xy", "keypoints")))
    assert stored is not None and 4 <= len(stored.xy) <= 128 and stored.xy.max() <= 256
    flat = picture_hashes(Image.new("RGB", (300, 200), (90, 90, 90)), WHITE, False)
    assert flat["keypoints"] == b"" and flat["keypoint_xy"] == b""
    assert Keypoints.unpack(b"", b"") is None


def test_a_match_survives_the_pixel_checks_encoding():
    for relation in RELATIONS:
        for correlation in (0.93, 0.9871, 1.0):
            code = encode(Match(np.eye(2, 3), 10, correlation, relation))
            got_relation, got_correlation = decode(code)
            assert got_relation == relation and abs(got_correlation - correlation) < 1e-9
