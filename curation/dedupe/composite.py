"""A transparent drawing and an opaque copy of it flattened on one flat colour, told by the pixels.

Reposting a transparent file on a colour keeps its canvas and every pixel of the drawing, and
turns every transparent pixel into that colour. That is a model with one unknown: with the
transparent post's grey thumbnail ``g`` (flattened on the configured background of grey level
``B``) and alpha ``a`` (0..1), its copy on grey level ``c`` must look like

    predicted = g + (1 - a) * (c - B)

everywhere (box reductions are linear, so this holds for the thumbnails too, to rounding).
``c`` is read off the copy where the original is fully transparent. A small drawing on an empty
canvas defeats every other check: its hashes and embeddings are those of an empty canvas
(near-flat pictures never match by them), and too few of its pixels are opaque to align. The
model needs no opaque pixels at all: it asks the copy to agree with the prediction on the whole
canvas, so another drawing at the same size (or the same glyph with a different mark beside it)
fails where they differ, and the drawing must show in the copy (``min_contrast``) so that a
plain canvas of the right colour does not match every transparent post of its size.

Candidates come from :func:`uniform_cells`, not from every pair of a size: a copy is uniform
wherever its original is of one grey and one opacity (fully transparent, the drawing's own flat
areas, a veil of one opacity), so the two cell patterns differ only in cells where the drawing
happens to match the colour under it; for large such areas (a frame of the colour the copy
was flattened on) the post is also flattened on its drawing's commonest greys
(:func:`query_patterns`). The opaque posts within ``CANDIDATE_RADIUS`` bits of one of a
transparent post's patterns are its candidates: a radius search by multi-index hashing, never
every pair of a canvas size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .align import Thumb

OPAQUE_DRAWING = 128  # thumbnail alpha at or above this counts as the drawing when measuring its contrast
PATTERN_GRID = 8  # cells a side of the uniform-cell pattern (64 bits)
CANDIDATE_RADIUS = 10  # pattern bits a copy may differ in (measured: at most 8 on the synthetic boards)
DRAWING_GREYS = 2  # the drawing's commonest greys (16-level bands) a post is also flattened on for its patterns


@dataclass(frozen=True)
class CompositeLimits:
    """How closely an opaque copy must follow the prediction (grey levels, thumbnail pixels)."""

    tolerance: float = 16.0  # a pixel this far from the prediction disagrees
    max_disagree: float = 0.002  # share of the canvas allowed to disagree (at least 2 pixels)
    threshold: float = 0.95  # correlation of prediction and copy over the drawing (alpha > 0)
    min_contrast: float = 8.0  # mean grey difference between the drawing and the copy's colour
    min_clear: float = 0.2  # share of the canvas that must be fully transparent (where the colour is read)


def uniform_cells(thumb: Thumb, tolerance: float) -> int:
    """The 64-bit pattern of a thumbnail's ``PATTERN_GRID`` x ``PATTERN_GRID`` cells that are
    uniform (grey spread within ``tolerance``): for a transparent thumbnail, the cells every
    flattening of it leaves uniform (grey and opacity both uniform: fully transparent, a flat
    fill, a flat veil of one opacity); for an opaque one, the cells that are. Thumbnails under
    ``PATTERN_GRID`` pixels a side give 0."""
    grey = thumb.grey
    h, w = grey.shape
    if h < PATTERN_GRID or w < PATTERN_GRID:
        return 0
    rows = np.linspace(0, h, PATTERN_GRID + 1).astype(np.int64)[:-1]
    cols = np.linspace(0, w, PATTERN_GRID + 1).astype(np.int64)[:-1]

    def cell(reduce, values: np.ndarray) -> np.ndarray:  # (h, w) -> (GRID, GRID)
        return reduce.reduceat(reduce.reduceat(values, rows, axis=0), cols, axis=1)

    uniform = cell(np.maximum, grey).astype(np.int16) - cell(np.minimum, grey) <= tolerance
    if thumb.alpha is not None:  # uniform on every colour: one grey over one opacity (clear, a flat fill, a veil)
        uniform &= cell(np.maximum, thumb.alpha).astype(np.int16) - cell(np.minimum, thumb.alpha) <= tolerance
    return int(np.packbits(uniform.ravel(), bitorder="little").view(np.uint64)[0])


def query_patterns(original: Thumb, background: float, tolerance: float) -> list[int]:
    """The patterns a transparent post's copies may show (:func:`uniform_cells`): its own, whatever
    the colour under it, and the patterns it takes flattened on each of the ``DRAWING_GREYS``
    commonest greys of its drawing, where the drawing's areas of that grey (a frame, a dark
    canvas around a glyph) merge with the colour into one uniform field.
    ``background``: the grey level ``original`` is flattened on."""
    patterns = [uniform_cells(original, tolerance)]
    if original.alpha is None:
        return patterns
    drawing = original.grey[original.alpha >= OPAQUE_DRAWING]
    if not len(drawing):
        return patterns
    counts = np.bincount((drawing // 16).astype(np.int64), minlength=16)
    alpha = original.alpha.astype(np.float32) / 255.0
    for band in np.argsort(-counts, kind="stable")[:DRAWING_GREYS]:
        if counts[band]:
            colour = float(np.median(drawing[drawing // 16 == band]))
            flattened = np.clip(original.grey + (1.0 - alpha) * (colour - background), 0, 255).astype(np.uint8)
            patterns.append(uniform_cells(Thumb(flattened, None, original.width, original.height), tolerance))
    return list(dict.fromkeys(patterns))  # its own first


def background_grey(rgb: tuple[int, int, int]) -> float:
    """Grey level of a colour as Pillow's ``convert("L")`` computes it (ITU-R 601-2 luma)."""
    r, g, b = rgb
    return (r * 299 + g * 587 + b * 114) / 1000


@dataclass(frozen=True)
class Copies:
    """Opaque thumbnails of one canvas size and one shape, stacked (the posts a transparent one
    of that size could have been flattened into)."""

    grey: np.ndarray  # (n, h, w) float32
    mean: np.ndarray  # (n,) float32: each thumbnail's mean grey level

    @classmethod
    def of(cls, thumbs: list[Thumb]) -> Copies:
        grey = np.stack([t.grey for t in thumbs]).astype(np.float32) if thumbs else np.zeros((0, 1, 1), np.float32)
        return cls(grey, grey.mean(axis=(1, 2)))


SAMPLED_CLEAR = 32  # transparent pixels of the original at which every copy is read first


def composite_scores(original: Thumb, copies: Copies, background: float, limits: CompositeLimits) -> list[tuple[int, int, float]]:
    """(k, pixels that disagree with the prediction, correlation over the drawing) for each
    ``copies`` member k that is ``original`` (a transparent post's thumbnail, flattened on grey
    level ``background``, of the copies' canvas size) flattened on one colour.

    Every copy is first read at a few of the original's transparent pixels, which must share
    one colour, and its mean grey must be the prediction's: two cheap tests that leave the full
    comparison a handful of copies out of thousands."""
    if original.alpha is None or not len(copies.grey) or copies.grey.shape[1:] != original.grey.shape:
        return []
    clear = original.alpha == 0  # (h, w)
    drawing = original.alpha >= OPAQUE_DRAWING
    if clear.mean() < limits.min_clear or not drawing.any():
        return []
    flat_clear = np.flatnonzero(clear.ravel())
    sample = flat_clear[np.linspace(0, len(flat_clear) - 1, min(SAMPLED_CLEAR, len(flat_clear))).astype(np.int64)]
    at_sample = copies.grey.reshape(len(copies.grey), -1)[:, sample]  # (n, s)
    colour = np.median(at_sample, axis=1)  # (n,)
    alpha = original.alpha.astype(np.float32) / 255.0  # (h, w)
    grey = original.grey.astype(np.float32)
    predicted_mean = grey.mean() + (1.0 - alpha).mean() * (colour - background)  # (n,)
    keep = np.flatnonzero((np.abs(at_sample - colour[:, None]) <= limits.tolerance).mean(axis=1) >= 0.9)
    keep = keep[np.abs(predicted_mean[keep] - copies.mean[keep]) <= limits.tolerance / 4]
    if not len(keep):
        return []
    candidates = copies.grey[keep]  # (k, h, w)
    colour = np.median(candidates[:, clear], axis=1)  # (k,): read off every transparent pixel now
    predicted = grey[None] + (1.0 - alpha)[None] * (colour[:, None, None] - background)
    disagree = (np.abs(predicted - candidates) > limits.tolerance).sum(axis=(1, 2))  # (k,)
    contrast = np.abs(predicted[:, drawing] - colour[:, None]).mean(axis=1)  # (k,)
    partial = original.alpha > 0
    x = predicted[:, partial] - predicted[:, partial].mean(axis=1, keepdims=True)  # (k, m)
    y = candidates[:, partial] - candidates[:, partial].mean(axis=1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    correlation = np.where(denominator > 0, (x * y).sum(axis=1) / np.maximum(denominator, 1e-9), -1.0)
    allowed = max(2, int(limits.max_disagree * clear.size))
    ok = (disagree <= allowed) & (contrast >= limits.min_contrast) & (correlation >= limits.threshold)
    return [(int(keep[n]), int(disagree[n]), float(correlation[n])) for n in np.flatnonzero(ok)]
