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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .align import Thumb

OPAQUE_DRAWING = 128  # thumbnail alpha at or above this counts as the drawing when measuring its contrast


@dataclass(frozen=True)
class CompositeLimits:
    """How closely an opaque copy must follow the prediction (grey levels, thumbnail pixels)."""

    tolerance: float = 16.0  # a pixel this far from the prediction disagrees
    max_disagree: float = 0.002  # share of the canvas allowed to disagree (at least 2 pixels)
    threshold: float = 0.95  # correlation of prediction and copy over the drawing (alpha > 0)
    min_contrast: float = 8.0  # mean grey difference between the drawing and the copy's colour
    min_clear: float = 0.2  # share of the canvas that must be fully transparent (where the colour is read)


def background_grey(rgb: tuple[int, int, int]) -> float:
    """Grey level of a colour as Pillow's ``convert("L")`` computes it (ITU-R 601-2 luma)."""
    r, g, b = rgb
    return (r * 299 + g * 587 + b * 114) / 1000


def composite_scores(original: Thumb, copies: list[Thumb], background: float,
                     limits: CompositeLimits) -> list[tuple[int, float] | None]:
    """For each opaque ``copies[k]`` of ``original``'s canvas (a transparent post's thumbnail,
    flattened on grey level ``background``): (pixels that disagree with the prediction,
    correlation over the drawing) when it is ``original`` flattened on one colour, else None.
    Copies of another canvas size (or transparent ones) are None."""
    if original.alpha is None:
        return [None] * len(copies)
    clear = original.alpha == 0  # (h, w)
    if clear.mean() < limits.min_clear:
        return [None] * len(copies)
    same = [k for k, c in enumerate(copies) if c.alpha is None and (c.width, c.height) == (original.width, original.height)
            and c.grey.shape == original.grey.shape]
    out: list[tuple[int, float] | None] = [None] * len(copies)
    if not same:
        return out
    grey = np.stack([copies[k].grey for k in same]).astype(np.float32)  # (k, h, w)
    alpha = original.alpha.astype(np.float32) / 255.0  # (h, w)
    colour = np.median(grey[:, clear], axis=1)  # (k,): each copy's background grey level
    predicted = original.grey.astype(np.float32)[None] + (1.0 - alpha)[None] * (colour[:, None, None] - background)
    disagree = (np.abs(predicted - grey) > limits.tolerance).sum(axis=(1, 2))  # (k,)
    drawing = original.alpha >= OPAQUE_DRAWING
    partial = original.alpha > 0
    if not drawing.any():
        return out
    contrast = np.abs(predicted[:, drawing] - colour[:, None]).mean(axis=1)  # (k,)
    x = predicted[:, partial] - predicted[:, partial].mean(axis=1, keepdims=True)  # (k, n)
    y = grey[:, partial] - grey[:, partial].mean(axis=1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    correlation = np.where(denominator > 0, (x * y).sum(axis=1) / np.maximum(denominator, 1e-9), -1.0)
    allowed = max(2, int(limits.max_disagree * clear.size))
    for n, k in enumerate(same):
        if disagree[n] <= allowed and contrast[n] >= limits.min_contrast and correlation[n] >= limits.threshold:
            out[k] = (int(disagree[n]), float(correlation[n]))
    return out
