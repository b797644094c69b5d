"""Recoloured copies (curation.dedupe.recolour): a crop whose hue was also turned a few degrees,
rescaled and saved as a poor JPEG (the synth's ``combined`` repost) matches its original once
the original's hue is turned by the angle the fit finds; with that step off it does not. Another
drawing of the figure (a changed face, hair of another colour) does not match either way."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_align import thumb
from test_keypoints import grey, match, points

from curation.dedupe import recolour
from curation.dedupe.keypoints import KeypointLimits, verify_pair
from curation.dedupe.recolour import LUMA, grey_per_degree, hue_turned, turned_grey
from curation.dedupe.reread import GreyFile
from curation.images.hashing import WHITE
from curation.synth.transforms import apply

NO_RECOLOUR = KeypointLimits(recolour_below=-1.0)


def poster(seed: int, hair=(235, 120, 40), mouth: bool = False, size=(256, 320)) -> Image.Image:
    """A figure in large flat colours on a blue sky (where a turned hue moves the grey of whole
    regions), with small outlined boxes in seeded colours and places for keypoints."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (90, 160, 225))
    d = ImageDraw.Draw(img)
    d.ellipse([70, 60, 190, 170], fill=hair, outline=(20, 20, 20), width=2)
    d.ellipse([95, 90, 165, 160], fill=(245, 215, 190))
    d.polygon([(130, 160), (70, 290), (190, 290)], fill=(50, 50, 90))
    d.polygon([(150, 60), (180, 45), (180, 80)], fill=(220, 30, 40))
    if mouth:
        d.ellipse([105, 125, 155, 155], fill=(150, 20, 30), outline=(20, 20, 20), width=2)
    for _ in range(14):
        x, y = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        w, h = int(rng.integers(8, 24)), int(rng.integers(8, 24))
        d.rectangle([x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(0, 250, 3)), outline=(15, 15, 15), width=2)
    return img


def combined(img: Image.Image, hue: int, quality: int = 40) -> Image.Image:
    """The synth's ``combined`` repost: a crop, the hue turned, scaled to 0.7, a JPEG."""
    sides = {"left": 0.04, "top": 0.03, "right": 0.06, "bottom": 0.05}
    params = {**sides, "hue": hue, "scale": 0.7, "ext": "jpg", "quality": quality}
    buffer = io.BytesIO()
    apply("combined", params, img).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    out = Image.open(buffer)
    out.load()
    return out


def colour_of(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float32)


def test_a_turned_hue_keeps_saturation_and_value_and_turns_back():
    colour = colour_of(poster(0))
    turned = hue_turned(colour, 30.0)
    assert np.abs(turned.max(axis=2) - colour.max(axis=2)).max() < 0.01  # value: the largest channel
    assert np.abs(turned.min(axis=2) - colour.min(axis=2)).max() < 0.01  # with value, saturation
    assert np.abs(hue_turned(turned, -30.0) - colour).max() < 0.01
    assert np.abs(turned - colour).max() > 40  # the colours did move
    grey_picture = np.repeat(colour.mean(axis=2, keepdims=True), 3, axis=2)
    assert np.abs(hue_turned(grey_picture, 30.0) - grey_picture).max() < 0.01


def test_the_rate_of_grey_per_degree_is_the_turns_derivative():
    rng = np.random.default_rng(4)
    colours = rng.uniform(0, 255, (120, 160, 3)).astype(np.float32)
    colours[:10] = colours[:10, :, :1]  # grey pixels: no hue, no rate
    # exactly: the middle channel moves by the chroma over 60 degrees, up when it follows the
    # largest channel (red, green, blue, round), down when it precedes it
    largest, smallest = colours.argmax(axis=2), colours.argmin(axis=2)
    middle = (3 - largest - smallest) % 3
    sign = np.where(largest == smallest, 0.0, np.where(middle == (largest + 1) % 3, 1.0, -1.0))
    exact = (colours.max(axis=2) - colours.min(axis=2)) * LUMA[middle] * sign / 60
    rate = grey_per_degree(colours)
    assert np.abs(rate[:10]).max() < 1e-3
    assert np.percentile(np.abs(rate - exact), 90) < 0.01 * np.abs(exact).max()  # all but near a sector's edge
    assert np.abs(exact).max() > 1.5  # a saturated green moves about 2 grey levels a degree


@pytest.mark.parametrize("degrees", [-11.0, -6.0, 8.0, 12.0])
def test_the_fit_finds_the_angle_a_picture_was_turned_by(degrees):
    colour = colour_of(poster(1))
    turned = hue_turned(colour, degrees) @ LUMA
    other_side = 0.9 * turned + 12.0  # a gain and offset on top change nothing
    found = turned_grey(colour, other_side, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), 1.5, 0.5, 20.0)
    assert found is not None
    angle, grey_picture = found
    assert angle == pytest.approx(degrees, abs=1.0)
    assert np.abs(0.9 * grey_picture + 12.0 - other_side).mean() < 1.0


def test_no_angle_is_found_for_a_grey_picture_or_a_turn_no_repost_makes():
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    colour = colour_of(poster(1))
    flat = np.repeat(colour.mean(axis=2, keepdims=True), 3, axis=2)
    assert turned_grey(flat, flat[..., 0], identity, 1.5, 0.5, 20.0) is None
    far = hue_turned(colour, 120.0) @ LUMA
    found = turned_grey(colour, far, identity, 1.5, 0.5, 20.0)
    if found is not None:  # the closest small turn still leaves whole regions apart
        gain, offset = np.polyfit(found[1].ravel(), far.ravel(), 1)
        assert (np.abs(gain * found[1] + offset - far) > 8).mean() > 2 * KeypointLimits().max_unexplained


@pytest.mark.parametrize("seed,hue", [(0, -10), (0, 11), (2, 11)])
def test_a_crop_with_its_hue_turned_rescaled_and_saved_as_a_poor_jpeg_matches(seed, hue):
    original = poster(seed)
    copy = combined(original, hue)
    found = match(original, copy)
    assert found is not None and found.relation == "cropped"
    one_gain = verify_pair(points(original), points(copy), thumb(original), thumb(copy), grey(original), grey(copy), NO_RECOLOUR)
    assert one_gain is None  # grey with one gain and offset cannot follow the turned hue


def test_another_drawing_of_the_figure_does_not_match_though_compared_in_colour(monkeypatch):
    tried = []

    def recorded(*args):
        found = recolour.turned_grey(*args)
        tried.append(found)
        return found

    monkeypatch.setattr("curation.dedupe.keypoints.turned_grey", recorded)
    for seed in (0, 1, 2):
        original = poster(seed)
        for other in (poster(seed, hair=(90, 40, 140)), poster(seed, mouth=True)):
            for copy in (other, combined(other, 11)):
                assert match(original, copy) is None
    assert len(tried) >= 3  # the colour step was reached, and refused


@pytest.mark.parametrize("size", [(256, 320), (700, 410), (120, 90)])
def test_a_file_read_in_colour_lies_on_the_grid_of_its_grey_keypoint_frame(tmp_path, size):
    img = poster(3).resize(size)
    rgba = img.convert("RGBA")
    alpha = Image.new("L", size, 255)
    ImageDraw.Draw(alpha).rectangle([0, 0, size[0] // 3, size[1] // 3], fill=0)  # a transparent corner
    rgba.putalpha(alpha)
    path = tmp_path / "poster.png"
    rgba.save(path)
    reader = GreyFile.at(path, WHITE)
    grey_frame, colour_frame = reader(), reader.colour()
    assert colour_frame.shape == (*grey_frame.shape, 3)
    assert np.abs(colour_frame @ LUMA - grey_frame).mean() < 1.5  # reduced in another order, so not to the level
    corner = colour_frame[: grey_frame.shape[0] // 4, : grey_frame.shape[1] // 4]
    assert corner.min() >= 254  # flattened on the background, as the grey frame is
    assert reader.reads == 2
    assert GreyFile.at(tmp_path / "gone.png", WHITE).colour() is None
