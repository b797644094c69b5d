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

Candidates come from a nearest-neighbour search on the pictures' values, not from every pair of
a size. A copy is its original's prediction for the colour ``c`` it was flattened on, and ``c``
shows: the copy has at least ``min_clear`` of its pixels at that grey. Each opaque thumbnail is
keyed, once for each grey that covers that much of it (:func:`colour_peaks`), by its
``KEY_GRID`` x ``KEY_GRID`` cell means minus that grey (:func:`copy_keys`); a transparent post
asks, for each ``COLOUR_BIN``-wide bin of those greys, with its prediction at the bin's middle
minus the same (:func:`prediction_keys`), so that its copy's key differs from the question by
rounding, compression and at most half a bin under the drawing. The copies within
``CANDIDATE_RMS`` grey levels (root mean square over the cells) and among its
``CANDIDATES_PER_POST`` nearest are its candidates (:func:`candidate_copies`): a post asks for
a fixed number (through faiss: exact while that is cheaper, an inverted file beyond), so the
candidates grow with the posts, not with the pairs of a size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

from .align import Thumb
from .semantic import gpu_count

OPAQUE_DRAWING = 128  # thumbnail alpha at or above this counts as the drawing when measuring its contrast
KEY_GRID = 16  # cells a side of a thumbnail's value key (256 cell means)
COLOUR_WINDOW = 4  # grey levels either side of a colour peak that count as that colour
PEAK_SHARE = 0.75  # of min_clear: how much of a thumbnail one colour must cover to be a copy's colour
COLOUR_BIN = 4.0  # grey levels: copies' keys are searched one bin of their colour at a time
CANDIDATE_RMS = 3.0  # grey levels a copy's key may stand from its prediction (measured: at most 1.3)
CANDIDATES_PER_POST = 16  # the nearest copies a transparent post is compared with, at most
EXACT_SEARCH_UP_TO = 2_000_000_000  # keys x questions of one bin searched exactly (~10 s); beyond, an inverted file
IVF_PROBES = 8  # lists an inverted-file question visits (of about sqrt(keys))


@dataclass(frozen=True)
class CompositeLimits:
    """How closely an opaque copy must follow the prediction (grey levels, thumbnail pixels)."""

    tolerance: float = 16.0  # a pixel this far from the prediction disagrees
    max_disagree: float = 0.002  # share of the canvas allowed to disagree (at least 2 pixels)
    threshold: float = 0.95  # correlation of prediction and copy over the drawing (alpha > 0)
    min_contrast: float = 8.0  # mean grey difference between the drawing and the copy's colour
    min_clear: float = 0.2  # share of the canvas that must be fully transparent (where the colour is read)


def cell_means(values: np.ndarray) -> np.ndarray:
    """(..., h, w) -> (..., g * g) float32: the means of ``KEY_GRID`` x ``KEY_GRID`` cells,
    row-major (fewer cells along a side shorter than that). Two matrix products with 0/1
    cell memberships: 2x faster than ``np.add.reduceat`` on a stack of thumbnails."""
    h, w = values.shape[-2:]

    def members(side: int) -> np.ndarray:  # (side, cells) float32
        bounds = np.linspace(0, side, min(KEY_GRID, side) + 1).astype(np.int64)
        cell = np.searchsorted(bounds, np.arange(side), side="right") - 1
        return (cell[:, None] == np.arange(len(bounds) - 1)).astype(np.float32)

    rows, cols = members(h), members(w)
    sums = rows.T @ (values.reshape(-1, h, w).astype(np.float32) @ cols)  # (n, gh, gw)
    means = sums / np.outer(rows.sum(axis=0), cols.sum(axis=0))
    return means.reshape(*values.shape[:-2], -1).astype(np.float32)


def colour_peaks(grey: np.ndarray, share: float) -> list[float]:
    """The greys that cover at least ``share`` of a (h, w) uint8 thumbnail within
    ``COLOUR_WINDOW`` levels, strongest first, each the median of the pixels it covers. A peak
    covers the most of any level within two windows of it (the lowest such level on a tie)."""
    _, colours = _peaks(np.bincount(grey.ravel(), minlength=256)[None], share)
    return colours.tolist()


def _peaks(counts: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`colour_peaks` of many thumbnails at once from their (n, 256) grey histograms:
    ((P,) int64 row, (P,) float32 grey), by row, strongest first within a row."""
    w = COLOUR_WINDOW
    cumulative = np.concatenate([np.zeros((len(counts), w + 1), np.int32), np.cumsum(counts, axis=1, dtype=np.int32)], axis=1)
    cumulative = np.concatenate([cumulative, np.repeat(cumulative[:, -1:], w, axis=1)], axis=1)  # (n, 256 + 2w + 1)
    covered = cumulative[:, 2 * w + 1 :] - cumulative[:, :256]  # (n, 256): pixels within w levels of each level
    padded = np.pad(covered, ((0, 0), (2 * w, 2 * w)), constant_values=-1)  # (n, 256 + 4w)
    left, right = padded[:, :256].copy(), padded[:, 2 * w + 1 : 2 * w + 257].copy()  # the most of 2w levels below, above
    for shift in range(1, 2 * w):
        np.maximum(left, padded[:, shift : shift + 256], out=left)
        np.maximum(right, padded[:, 2 * w + 1 + shift : 2 * w + 257 + shift], out=right)
    enough = covered >= share * counts.sum(axis=1, keepdims=True)
    rows, levels = np.nonzero(enough & (covered > left) & (covered >= right))
    order = np.lexsort((levels, -covered[rows, levels], rows))
    rows, levels = rows[order], levels[order]
    spans = levels[:, None] - w + np.arange(2 * w + 1)  # (P, 2w + 1): the levels each peak covers
    inside = (spans >= 0) & (spans < 256)
    held = np.where(inside, counts[rows[:, None], np.clip(spans, 0, 255)], 0).cumsum(axis=1)
    middle = (held[:, -1:] - 1) / 2  # the median's rank(s) among the pixels covered
    lower = (held <= np.floor(middle)).sum(axis=1)
    upper = (held <= np.ceil(middle)).sum(axis=1)
    return rows.astype(np.int64), (levels - w + (lower + upper) / 2).astype(np.float32)


@dataclass(frozen=True)
class CopyKeys:
    """The keys of opaque thumbnails of one shape, one for each colour peak of each."""

    owner: np.ndarray  # (E,) int64: the thumbnail's position in the list keyed
    colour: np.ndarray  # (E,) float32: the peak's grey level
    key: np.ndarray  # (E, d) float32: cell means minus the colour

    @classmethod
    def join(cls, parts: list[CopyKeys]) -> CopyKeys:
        """The keys of several thumbnail shapes' parts as one (none: no keys, of no width)."""
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros((0, 0), np.float32))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("owner", "colour", "key")))


def copy_keys(thumbs: list[tuple[int, Thumb]], limits: CompositeLimits) -> CopyKeys:
    """The keys of opaque thumbnails (all of one shape), each given with its owner number."""
    if not thumbs:
        return CopyKeys.join([])
    grey = np.stack([t.grey for _, t in thumbs])  # (n, h, w)
    means = cell_means(grey)  # (n, d)
    n = len(grey)
    counts = np.empty((n, 256), np.int32)
    for start in range(0, n, 4096):  # histograms of many thumbnails at once, in bounded memory
        part = grey[start : start + 4096].reshape(-1, grey[0].size)
        offsets = (np.arange(len(part), dtype=np.int32)[:, None] << 8) | part
        counts[start : start + len(part)] = np.bincount(offsets.ravel(), minlength=256 * len(part)).reshape(-1, 256)
    rows, colours = _peaks(counts, PEAK_SHARE * limits.min_clear)
    owners = np.array([number for number, _ in thumbs], np.int64)
    return CopyKeys(owners[rows], colours, means[rows] - colours[:, None])


def prediction_keys(original: Thumb, background: float, colours: np.ndarray) -> np.ndarray:
    """(len(colours), d) float32: the key of ``original`` (transparent, flattened on grey level
    ``background``) predicted on each of ``colours``: its cell means there minus the colour."""
    drawn, opacity = _prediction_parts([original], background)
    return drawn - colours[:, None].astype(np.float32) * opacity


def _prediction_parts(originals: list[Thumb], background: float) -> tuple[np.ndarray, np.ndarray]:
    """((n, d) drawn, (n, d) opacity) float32: cell means are linear, so the prediction
    ``g + (1 - a) (c - B)`` minus ``c`` has cell means ``drawn - opacity * c``, with
    ``opacity = mean(a)`` and ``drawn = mean(g) - (1 - opacity) B``."""
    opacity = cell_means(np.stack([t.alpha for t in originals]).astype(np.float32) / 255.0)
    drawn = cell_means(np.stack([t.grey for t in originals])) - (1.0 - opacity) * background
    return drawn.astype(np.float32), opacity


def candidate_copies(
    originals: list[Thumb], keys: CopyKeys, background: float, limits: CompositeLimits
) -> tuple[np.ndarray, np.ndarray]:
    """((P,) positions in ``originals``, (P,) owners in ``keys``): each transparent original
    (all of the keys' shape) with up to ``CANDIDATES_PER_POST`` copies whose keys are nearest
    its prediction, within ``CANDIDATE_RMS``. Originals too opaque to have a copy (less than
    ``min_clear`` of them clear) ask nothing."""
    asking = [q for q, t in enumerate(originals) if t.alpha is not None and (t.alpha == 0).mean() >= limits.min_clear]
    if not asking or not len(keys.owner):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    dims = keys.key.shape[1]
    drawn, opacity = _prediction_parts([originals[q] for q in asking], background)
    bins = np.floor(keys.colour / COLOUR_BIN).astype(np.int64)
    found_q, found_owner, found_d = [], [], []
    for b in np.unique(bins).tolist():
        members = np.flatnonzero(bins == b)
        queries = drawn - np.float32((b + 0.5) * COLOUR_BIN) * opacity  # (Q, d): the predictions at the bin's middle
        k = min(CANDIDATES_PER_POST, len(members))
        squared, ids = _nearest(keys.key[members], queries, k)  # (Q, k) each
        near = (ids >= 0) & (squared <= CANDIDATE_RMS**2 * dims)
        rows, cols = np.nonzero(near)
        found_q.append(np.asarray(asking, np.int64)[rows])
        found_owner.append(keys.owner[members[ids[rows, cols]]])
        found_d.append(squared[rows, cols])
    q, owner, d = np.concatenate(found_q), np.concatenate(found_owner), np.concatenate(found_d)
    order = np.lexsort((owner, d, q))  # per original, nearest first
    q, owner = q[order], owner[order]
    pair = q * (int(keys.owner.max()) + 1) + owner
    first = np.sort(np.unique(pair, return_index=True)[1])  # each copy once, at its nearest colour
    q, owner = q[first], owner[first]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    rank = np.arange(len(q)) - np.repeat(starts, np.diff(np.r_[starts, len(q)]))
    keep = rank < CANDIDATES_PER_POST
    return q[keep], owner[keep]


def _nearest(keys: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k) squared L2 distances and (Q, k) rows of ``keys`` (N, d) nearest each of ``queries``
    (Q, d). Exact (``IndexFlatL2``, on a GPU when faiss sees one) while N x Q is at most
    ``EXACT_SEARCH_UP_TO``: on 2 cores it costs about 5 ns a key and question, less than training
    and filling an index below that. Beyond, an inverted file of about sqrt(N) lists, each
    question visiting ``IVF_PROBES`` of them: O(N^1.5 + Q sqrt(N)) instead of O(N Q)."""
    dims = keys.shape[1]
    keys, queries = np.ascontiguousarray(keys, np.float32), np.ascontiguousarray(queries, np.float32)
    if gpu_count():
        index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatL2(dims))
    elif len(keys) * len(queries) <= EXACT_SEARCH_UP_TO:
        index = faiss.IndexFlatL2(dims)
    else:
        lists = max(1, min(int(math.sqrt(len(keys))), len(keys) // 39))  # faiss trains on at least 39 a list
        quantizer = faiss.IndexFlatL2(dims)
        index = faiss.IndexIVFFlat(quantizer, dims, lists)
        sample = np.random.default_rng(0).choice(len(keys), size=min(len(keys), 64 * lists), replace=False)
        index.train(keys[np.sort(sample)])
        index.nprobe = min(lists, IVF_PROBES)
    index.add(keys)
    return index.search(queries, k)


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
