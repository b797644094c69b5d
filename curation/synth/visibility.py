"""What a viewer can see of a drawing: the parts that later drawing leaves in view.

The renderer paints glyphs first, then figures, then the speech bubble, caption box, border and
signature, so a glyph behind a figure, or a face behind a later figure or the speech bubble, can
be hidden. A board's tagger tags what the picture shows, so the synth's true tags leave hidden
parts out (:func:`~curation.synth.posts.scene_tags`); a missing tag planted on a glyph nobody can
see would be noise no tagger could find.

Visibility is measured on an id buffer: the scene is painted at a small size (``SIZE`` pixels on
the short side) in the renderer's order and with its drawing code, each part in its own value,
and one histogram then counts the pixels of each part still in view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from ..processes import worker_pool
from ..progress import progress
from .draw import draw_figure, draw_front, eye_boxes, glyph_paint_mask
from .scene import Figure, Scene
from .vocab import ArtistStyle

POOL_FROM = 4000  # fewer scenes than this are measured in this process: a pool costs seconds to start

SIZE = 128  # the short side the id buffer is painted at
MIN_SHOWN = 0.4  # a part with less than this share of its area in view is hidden: too little to name
_GLYPH, _FIGURE, _EYES, _FRONT = 1, 100, 150, 255  # id of glyph i: _GLYPH + i, ...
_OPAQUE = [0] + [255] * 255  # a lookup table: any alpha above 0 paints


UNDER_A_HAT = ("cat_ears", "fox_ears", "horns")  # accessories drawn before a hat, where it sits


@dataclass(frozen=True)
class HiddenParts:
    """Indices into ``scene.glyphs`` and ``scene.figures`` (whose eyes) that are out of view, and
    (figure index, part) pairs a figure's own hat hides (or that are not drawn): an accessory of
    ``UNDER_A_HAT`` or ``"hair"`` (its colour)."""

    glyphs: frozenset[int]
    faces: frozenset[int]
    under_hats: frozenset[tuple[int, str]] = frozenset()


def hidden_parts(scene: Scene, style: ArtistStyle) -> HiddenParts:
    """The glyphs and faces of ``scene`` that less than ``MIN_SHOWN`` of stays in view (frame 0)."""
    if not scene.glyphs and not scene.figures:
        return HiddenParts(frozenset(), frozenset())
    factor = SIZE / min(scene.width, scene.height)
    small = replace(scene, width=max(1, round(scene.width * factor)), height=max(1, round(scene.height * factor)))
    size = (small.width, small.height)
    ids = Image.new("L", size, 0)
    glyph_areas = []
    for i, glyph in enumerate(small.glyphs):
        tile, x0, y0 = glyph_paint_mask(glyph, style, size)
        glyph_areas.append(tile.histogram()[255])  # the whole shape, on the canvas or off it
        ids.paste(_GLYPH + i, (x0, y0), tile)
    eye_areas = []
    for i, fig in enumerate(small.figures):
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        draw_figure(layer, fig, style, min(size) / 256, i)
        ids.paste(_FIGURE + i, (0, 0), layer.getchannel("A").point(_OPAQUE))
        pen = ImageDraw.Draw(ids)
        eyes = eye_boxes(fig, size)
        for box in eyes:
            pen.ellipse(box, fill=_EYES + i)
        eye_areas.append(sum(math.pi * (b[2] - b[0]) * (b[3] - b[1]) / 4 for b in eyes))
    front = Image.new("RGBA", size, (0, 0, 0, 0))
    draw_front(front, small, style)
    ids.paste(_FRONT, (0, 0), front.getchannel("A").point(_OPAQUE))
    in_view = ids.histogram()
    return HiddenParts(
        frozenset(i for i, area in enumerate(glyph_areas) if in_view[_GLYPH + i] < MIN_SHOWN * area or not area),
        frozenset(i for i, area in enumerate(eye_areas) if in_view[_EYES + i] < MIN_SHOWN * area or not area),
        frozenset((i, part) for i, fig in enumerate(small.figures) for part in _under_hat(fig, style, size, i)),
    )


def _under_hat(fig: Figure, style: ArtistStyle, size: tuple[int, int], index: int) -> list[str]:
    """The parts of ``fig`` its hat hides, or that are not drawn at all: each is drawn with and
    without the part (the hair: in another colour), with the hat and without it; a part is
    hidden when less than ``MIN_SHOWN`` of the pixels it changes bare still change under the
    hat, or when it changes none (horns give way to animal ears)."""
    parts = [a for a in UNDER_A_HAT if a in fig.accessories] + (["hair"] if "hat" in fig.accessories else [])
    bare = replace(fig, accessories=tuple(a for a in fig.accessories if a != "hat"))
    hidden = []
    for part in parts:
        seen = _changed(fig, _without(fig, part), style, size, index)
        whole = _changed(bare, _without(bare, part), style, size, index)
        if seen < MIN_SHOWN * whole or not whole:  # not drawn at all: horns give way to animal ears
            hidden.append(part)
    return hidden


def _without(fig: Figure, part: str) -> Figure:
    """``fig`` without an accessory, or for ``"hair"`` with hair of another colour."""
    if part == "hair":
        return replace(fig, hair="black" if fig.hair != "black" else "blonde")
    return replace(fig, accessories=tuple(a for a in fig.accessories if a != part))


def _changed(a: Figure, b: Figure, style: ArtistStyle, size: tuple[int, int], index: int) -> int:
    """How many pixels differ between ``a`` and ``b`` drawn alone on a transparent canvas."""
    layers = []
    for fig in (a, b):
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        draw_figure(layer, fig, style, min(size) / 256, index)
        layers.append(np.asarray(layer))
    return int((layers[0] != layers[1]).any(axis=2).sum())


def hidden_parts_of(scenes: list[Scene], styles: dict[str, ArtistStyle], workers: int = 1) -> list[HiddenParts]:
    """:func:`hidden_parts` of each scene (in order), in ``workers`` processes for large boards."""
    jobs = [(scene, styles[scene.artist]) for scene in scenes]
    with progress("finding what each picture shows", len(jobs)) as advance:
        if workers <= 1 or len(jobs) < POOL_FROM:
            out = []
            for job in jobs:
                out.append(hidden_parts(*job))
                advance(1)
            return out
        with worker_pool(workers) as pool:
            out = []
            for parts in pool.map(_hidden_parts_job, jobs, chunksize=500):
                out.append(parts)
                advance(1)
            return out


def _hidden_parts_job(job: tuple[Scene, ArtistStyle]) -> HiddenParts:
    return hidden_parts(*job)
