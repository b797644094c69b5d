"""The synth's true tags name what each picture shows: hidden glyphs and colours of monochrome
pictures are left out, so planted label noise is always noise a viewer could see."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation.synth import generate_board
from curation.synth.draw import render
from curation.synth.posts import scene_tags
from curation.synth.scene import Figure, Glyph, Scene
from curation.synth.visibility import hidden_parts
from curation.synth.vocab import COLOURS, EYE_COLOURS, HAIR_COLOURS, ArtistStyle, build_vocabulary, parse_object_tag

STYLE = ArtistStyle(2, (20, 20, 20), 1.0, 0, 0.0, 0.0, False, 0.0)
GIRL = Figure("girl", "blue", "red", "long_hair", (), ("smile",), None, x=0.5, y=0.35, scale=0.14, coverage=1.0)


def scene(*glyphs: Glyph, figures=(GIRL,), **flags) -> Scene:
    return Scene(1, 256, 256, "white_background", False, figures, glyphs, "artist_a", **flags)


def glyph(tag: str, x: float, y: float) -> Glyph:
    size, colour, shape, style = parse_object_tag(tag)
    return Glyph(tag, shape, colour, style, size, x, y, 0.0)


def test_a_glyph_behind_a_figure_is_hidden_and_one_beside_it_is_shown():
    behind = glyph("small_yellow_star", 0.5, 0.5)  # behind the long hair
    beside = glyph("small_green_star", 0.15, 0.15)  # an empty corner
    parts = hidden_parts(scene(behind, beside), STYLE)
    assert parts.glyphs == {0}
    assert parts.faces == frozenset()
    # The pixels agree: the yellow star's colour is nowhere in the picture, the green one's is.
    pixels = np.asarray(render(scene(behind, beside), STYLE).convert("RGB")).reshape(-1, 3)
    assert not (pixels == COLOURS["yellow"]).all(axis=1).any()
    assert (pixels == COLOURS["green"]).all(axis=1).sum() > 50


def test_a_glyph_under_a_later_glyph_is_hidden():
    under = glyph("small_red_square", 0.2, 0.8)
    over = glyph("large_blue_circle", 0.2, 0.8)
    assert hidden_parts(scene(under, over, figures=()), STYLE).glyphs == {0}
    assert hidden_parts(scene(over, under, figures=()), STYLE).glyphs == frozenset()  # drawn on top: seen


def test_eyes_behind_the_speech_bubble_are_hidden():
    high = Figure("girl", "blue", "red", "short_hair", (), (), None, x=0.75, y=0.16, scale=0.06, coverage=1.0)
    assert hidden_parts(scene(figures=(high,), speech_bubble=True), STYLE).faces == {0}
    assert hidden_parts(scene(figures=(high,)), STYLE).faces == frozenset()


def test_scene_tags_leave_out_hidden_glyphs_and_colours_a_monochrome_picture_lacks():
    vocab = build_vocabulary(0, "danbooru", 50)
    artist = next(iter(vocab.styles))
    behind = glyph("small_yellow_star", 0.5, 0.5)
    beside = glyph("large_green_heart", 0.15, 0.15)
    drawn = Scene(1, 256, 256, "white_background", False, (GIRL,), (behind, beside), artist)
    parts = hidden_parts(drawn, vocab.styles[artist])
    tags = scene_tags(drawn, vocab, parts)
    assert beside.tag in tags and behind.tag not in tags
    assert {"red_eyes", "blue_hair", "smile", "long_hair", "1girl"} <= tags
    grey = scene_tags(Scene(**{**drawn.__dict__, "monochrome": True, "greyscale": True}), vocab, parts)
    assert "heart" in grey and beside.tag not in grey
    assert not {"red_eyes", "blue_hair"} & grey
    assert {"smile", "long_hair", "monochrome", "greyscale"} <= grey
    blue = Scene(**{**drawn.__dict__, "background": "blue_background"})
    assert "blue_background" in scene_tags(blue, vocab, parts)
    grey_blue = scene_tags(Scene(**{**blue.__dict__, "monochrome": True, "greyscale": True}), vocab, parts)
    assert "blue_background" not in grey_blue and "simple_background" in grey_blue  # flat, of no colour one can name
    assert behind.tag in scene_tags(drawn, vocab)  # without visibility: every drawn part


@pytest.mark.slow
def test_planted_missing_tags_are_always_visible(tmp_path):
    """On a board with pictures no missing tag is a glyph the picture hides, and monochrome
    pictures carry no colour tags; on the same board without pictures the hidden glyphs count."""
    generate_board(tmp_path / "b", 300, seed=3, image_size=64, workers=1)
    generate_board(tmp_path / "n", 300, seed=3, images=False)
    seen = pl.read_parquet(tmp_path / "b" / "truth" / "posts.parquet")
    drawn = pl.read_parquet(tmp_path / "n" / "truth" / "posts.parquet")
    assert seen["true_tags"].list.len().sum() < drawn["true_tags"].list.len().sum()
    from curation.synth.posts import SynthParams, sample_posts

    vocab = build_vocabulary(3, "danbooru", 300)
    posts = sample_posts(vocab, SynthParams(posts=300, seed=3, flavour="danbooru", image_size=64))
    assert [p.post_id for p in posts] == seen["post_id"].to_list()
    noise = pl.read_parquet(tmp_path / "b" / "truth" / "label_noise.parquet").filter(pl.col("change") == "missing")
    missing = {(p, t) for p, t in noise.select("post_id", "tag").iter_rows()}
    colours = {f"{c}_hair" for c in HAIR_COLOURS} | {f"{c}_eyes" for c in EYE_COLOURS}
    true_tags = dict(seen.select("post_id", "true_tags").iter_rows())
    hidden = monochrome = 0
    for post in posts:
        parts = hidden_parts(post.tag_scene, vocab.styles[post.tag_scene.artist])
        for i in parts.glyphs:
            hidden += 1
            assert (post.post_id, post.tag_scene.glyphs[i].tag) not in missing
        if post.tag_scene.monochrome:
            monochrome += 1
            assert not colours & set(true_tags[post.post_id])
    assert hidden > 10 and monochrome > 3


def test_a_hat_hides_the_ears_and_horns_under_it_but_not_what_is_drawn_over_it():
    vocab = build_vocabulary(0, "danbooru", 50)
    artist = next(iter(vocab.styles))
    hatted = Figure("girl", "blue", "red", "short_hair", ("hat", "cat_ears", "horns", "hair_bow"), (), None, 0.5, 0.4, 0.14, 1.0)
    drawn = Scene(1, 256, 256, "white_background", False, (hatted,), (), artist)
    parts = hidden_parts(drawn, vocab.styles[artist])
    # the bow is drawn over the hat and the hair shows below it; horns are not drawn beside ears
    assert parts.under_hats == {(0, "cat_ears"), (0, "horns")}
    tags = scene_tags(drawn, vocab, parts)
    assert {"hat", "hair_bow", "blue_hair", "short_hair"} <= tags and not {"cat_ears", "horns"} & tags
    for shown in (("cat_ears",), ("horns",)):
        bare = Scene(**{**drawn.__dict__, "figures": (Figure(**{**hatted.__dict__, "accessories": shown}),)})
        assert hidden_parts(bare, vocab.styles[artist]).under_hats == frozenset()
        assert set(shown) <= scene_tags(bare, vocab, hidden_parts(bare, vocab.styles[artist]))
    both = Scene(**{**drawn.__dict__, "figures": (Figure(**{**hatted.__dict__, "accessories": ("cat_ears", "horns")}),)})
    assert hidden_parts(both, vocab.styles[artist]).under_hats == {(0, "horns")}
