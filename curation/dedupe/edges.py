"""Duplicate edges between posts from their file hashes. Pure: arrays in, edges out.

Kinds, strongest first: ``exact`` (same file bytes), ``pixels`` (same decoded pixels),
``perceptual`` (pHash within radius, confirmed by dHash), ``mirror`` (the same, against the
mirror image), ``background`` (a transparent image and an opaque one that hash alike once
both have their background turned white: the same drawing composited on a colour), and
``variant`` (a hash match between posts of one parent/child family whose files are not
identical).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import DedupeConfig
from ..images.hashing import REGIONS
from .search import radius_pairs

_DEFAULTS = DedupeConfig()

KIND_RANK = {"exact": 0, "pixels": 1, "perceptual": 2, "mirror": 3, "background": 4, "variant": 5}


@dataclass(frozen=True)
class HashTable:
    """Columns for N posts (arrays of length N)."""

    post_id: np.ndarray  # int64
    file_md5: np.ndarray  # object (str)
    pixel_sha256: np.ndarray  # object (str)
    phash: np.ndarray  # uint64
    dhash: np.ndarray  # uint64
    phash_mirror: np.ndarray  # uint64
    dhash_mirror: np.ndarray  # uint64
    information: np.ndarray  # float32
    family: np.ndarray  # int64: the parent's id for a child, the post's own id otherwise
    bg_phash: np.ndarray | None = None  # uint64: background turned white; 0 when it has no flat background
    bg_dhash: np.ndarray | None = None  # uint64
    has_alpha: np.ndarray | None = None  # bool
    bg_information: np.ndarray | None = None  # float32: information of the whitened picture
    bg_black_phash: np.ndarray | None = None  # uint64: transparent posts flattened on black, whitened; else 0
    bg_black_dhash: np.ndarray | None = None  # uint64
    width: np.ndarray | None = None  # int64: the file's size in pixels (0 when unknown)
    height: np.ndarray | None = None  # int64
    thumb_phash: np.ndarray | None = None  # uint64: pHash of the whole untrimmed thumbnail; 0 when none
    unpadded_phash: np.ndarray | None = None  # uint64: of that thumbnail less its flat margins; 0 when none
    turned_phash: np.ndarray | None = None  # (N, 3) uint64: of that thumbnail turned 90, 180, 270 degrees; 0 when none
    region_phash: np.ndarray | None = None  # (N, R) uint64: of the regions of that thumbnail (hashing.REGIONS); 0 when none


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x.astype(np.uint64))


def _same_value_pairs(values: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (i < j) with equal values: each member paired with its group's first."""
    first: dict = {}
    pairs = []
    for i, v in enumerate(values):
        if v is None:
            continue
        if v in first:
            pairs.append((first[v], i))
        else:
            first[v] = i
    return pairs


@dataclass(frozen=True)
class Radii:
    """Hamming bounds (64-bit hashes) for a hash match.

    A pair matches when its pHashes are within ``phash`` and its dHashes confirm within
    ``dhash``, or within ``close_dhash`` when the pHashes are within ``close_phash`` (a
    near-identical pHash needs less confirmation: trimming a border can shift a picture by a
    pixel, which moves the gradient-based dHash more than the pHash). ``mirror`` bounds the
    pHash against the mirror image. ``background`` and ``background_dhash`` bound pictures with
    whitened backgrounds between a transparent and an opaque picture, ``opaque_background``
    between two opaque ones: once their backgrounds are white, different drawings of the same
    flat-background layout (a figure in the middle) come closer than a transparent drawing and
    its copy on a colour do.
    """

    phash: int = _DEFAULTS.phash_radius  # every default is [dedupe]'s, stated once in curation/config.py
    dhash: int = _DEFAULTS.dhash_radius
    close_phash: int = _DEFAULTS.close_phash_radius
    close_dhash: int = _DEFAULTS.close_dhash_radius
    mirror: int = _DEFAULTS.mirror_radius
    background: int = _DEFAULTS.background_radius
    background_dhash: int = _DEFAULTS.background_dhash_radius
    opaque_background: int = _DEFAULTS.opaque_background_radius

    @classmethod
    def from_config(cls, cfg: DedupeConfig) -> Radii:
        return cls(cfg.phash_radius, cfg.dhash_radius, cfg.close_phash_radius, cfg.close_dhash_radius, cfg.mirror_radius,
                   cfg.background_radius, cfg.background_dhash_radius, cfg.opaque_background_radius)  # fmt: skip


def find_edges(t: HashTable, radii: Radii, min_information: float) -> dict[tuple[int, int], tuple[str, int]]:
    """(post_a, post_b) with post_a < post_b -> (kind, distance): the strongest edge per pair."""
    edges: dict[tuple[int, int], tuple[str, int]] = {}

    def add(i: int, j: int, kind: str, distance: int) -> None:
        a, b = sorted((int(t.post_id[i]), int(t.post_id[j])))
        if a == b:
            return
        if kind in ("perceptual", "mirror", "background") and t.family[i] == t.family[j]:
            kind = "variant"
        old = edges.get((a, b))
        if old is None or KIND_RANK[kind] < KIND_RANK[old[0]]:
            edges[(a, b)] = (kind, distance)

    for i, j in _same_value_pairs(t.file_md5):
        add(i, j, "exact", 0)
    for i, j in _same_value_pairs(t.pixel_sha256):
        add(i, j, "pixels", 0)
    hashed = np.flatnonzero((t.information >= min_information) & (t.phash != 0))
    if len(hashed) > 1:
        index = t.phash[hashed]
        for query, dquery, kind, radius in (
            (None, t.dhash[hashed], "perceptual", radii.phash),
            (t.phash_mirror[hashed], t.dhash_mirror[hashed], "mirror", radii.mirror),
        ):
            qi, ij, dist = radius_pairs(index, query, radius)  # None: the index against itself
            keep = qi != ij
            qi, ij, dist = qi[keep], ij[keep], dist[keep]
            ddist = _popcount(dquery[qi] ^ t.dhash[hashed][ij])
            ok = (ddist <= radii.dhash) | ((dist <= radii.close_phash) & (ddist <= radii.close_dhash))
            for q, j, d in zip(qi[ok], ij[ok], dist[ok]):
                add(int(hashed[q]), int(hashed[j]), kind, int(d))
    if t.bg_phash is not None and t.bg_dhash is not None and t.has_alpha is not None:
        # Pictures with their background turned white and kept whole (not trimmed): the same
        # drawing on another colour or with its transparency flattened, and copies whose noisy
        # near-white background made the trimmed hashes disagree.
        bg_information = t.information if t.bg_information is None else t.bg_information
        usable = np.flatnonzero((bg_information >= min_information) & (t.bg_phash != 0))
        qi, ij, dist = radius_pairs(t.bg_phash[usable], None, max(radii.background, radii.opaque_background))
        mixed = t.has_alpha[usable[qi]] != t.has_alpha[usable[ij]]
        ok = (_popcount(t.bg_dhash[usable[qi]] ^ t.bg_dhash[usable[ij]]) <= radii.background_dhash) & (
            dist <= np.where(mixed, radii.background, radii.opaque_background)
        )
        for q, j, d in zip(usable[qi[ok]], usable[ij[ok]], dist[ok]):
            add(int(q), int(j), "background" if t.has_alpha[q] != t.has_alpha[j] else "perceptual", int(d))
        if t.bg_black_phash is not None and t.bg_black_dhash is not None:
            # transparent posts as they would look reposted on black and whitened, against opaque posts
            opaque = usable[~t.has_alpha[usable]]
            transparent = np.flatnonzero(t.has_alpha & (t.bg_black_phash != 0))
            qi, ij, dist = radius_pairs(t.bg_phash[opaque], t.bg_black_phash[transparent], radii.background)
            ok = _popcount(t.bg_black_dhash[transparent[qi]] ^ t.bg_dhash[opaque[ij]]) <= radii.background_dhash
            for q, j, d in zip(transparent[qi[ok]], opaque[ij[ok]], dist[ok]):
                add(int(q), int(j), "background", int(d))
    return edges


def hash_near_misses(
    t: HashTable, radii: Radii, min_information: float, extra: int = 2, max_queries: int = 20_000
) -> list[tuple[int, int, int]]:
    """Row pairs (i, j, pHash distance), i < j, that just missed a ``perceptual`` edge: within
    ``radii.phash + extra`` but beyond ``radii.phash``, or within it but refused by the dHash
    check, both pictures informative; what a person looks at to judge ``phash_radius`` and
    ``dhash_radius`` (the contact sheets), closest first.

    Only the sheets want these, so on a large board only ``max_queries`` evenly spread pictures
    are searched for them (against every picture): a few examples, at a bounded cost, instead
    of a second search of the whole board."""
    hashed = np.flatnonzero((t.information >= min_information) & (t.phash != 0))
    if len(hashed) < 2:
        return []
    if len(hashed) > max_queries:
        sample = hashed[np.linspace(0, len(hashed) - 1, max_queries).astype(np.int64)]
        qi, ij, dist = radius_pairs(t.phash[hashed], t.phash[sample], radii.phash + extra)
        first, second = sample[qi], hashed[ij]
    else:
        qi, ij, dist = radius_pairs(t.phash[hashed], None, radii.phash + extra)
        first, second = hashed[qi], hashed[ij]
    ddist = _popcount(t.dhash[first] ^ t.dhash[second])
    confirmed = (ddist <= radii.dhash) | ((dist <= radii.close_phash) & (ddist <= radii.close_dhash))
    keep = ((dist > radii.phash) | ~confirmed) & (first != second)
    pairs = {}
    for i, j, d in zip(first[keep].tolist(), second[keep].tolist(), dist[keep].tolist()):
        pairs[(min(i, j), max(i, j))] = d
    return sorted(((i, j, d) for (i, j), d in pairs.items()), key=lambda r: (r[2], r[0], r[1]))


def near_flat_candidates(
    t: HashTable, min_information: float, floor: float, radius: int, dhash_radius: int
) -> list[tuple[int, int, int, bool]]:
    """Row pairs (i, j, pHash distance, mirrored) that :func:`find_edges` leaves out as too flat
    to judge by hash (one of them has information in [``floor``, ``min_information``)), whose
    pHashes are within ``radius`` and dHashes within ``dhash_radius`` (padding shifts a
    dHash more than a pHash), directly or with ``i`` mirrored: a
    near-empty canvas with one small drawing and its copies. Their hashes alone cannot tell
    them from another drawing at the same place; the pixels can
    (:func:`curation.dedupe.align.agreement`)."""
    usable = np.flatnonzero((t.information >= floor) & (t.phash != 0))
    if len(usable) < 2 or not (t.information[usable] < min_information).any():
        return []
    out = []
    for mirrored, query, dquery in ((False, None, t.dhash), (True, t.phash_mirror[usable], t.dhash_mirror)):
        qi, ij, dist = radius_pairs(t.phash[usable], query, radius)
        i, j = usable[qi], usable[ij]
        ok = (
            (i != j)
            & (np.minimum(t.information[i], t.information[j]) < min_information)
            & (_popcount(dquery[i] ^ t.dhash[j]) <= dhash_radius)
        )
        out += [(a, b, d, mirrored) for a, b, d in zip(i[ok].tolist(), j[ok].tolist(), dist[ok].tolist())]
    return out


def turned_candidates(t: HashTable, min_information: float, radius: int, per_post: int = 0) -> list[tuple[int, int, int, int]]:
    """Row pairs (i, j, quarters, distance): row i's thumbnail turned ``quarters`` x 90 degrees
    counterclockwise hashes within ``radius`` of row j's whole thumbnail (a repost turned on its
    side or upside down), both pictures informative. For the pixel check, turned the same way.
    With ``per_post`` > 0 each turned thumbnail brings only its ``per_post`` closest."""
    if t.turned_phash is None or t.thumb_phash is None or radius < 0:
        return []
    hashed = np.flatnonzero((t.information >= min_information) & (t.thumb_phash != 0))
    out = []
    for column, quarters in enumerate((1, 2, 3)):
        turned = hashed[t.turned_phash[hashed, column] != 0]
        qi, ij, dist = radius_pairs(
            t.thumb_phash[hashed], t.turned_phash[turned, column], radius, per_query=per_post and per_post + 1
        )  # + 1: a symmetric picture finds itself
        i, j = turned[qi], hashed[ij]
        keep = i != j
        out += [(a, b, quarters, d) for a, b, d in zip(i[keep].tolist(), j[keep].tolist(), dist[keep].tolist())]
    return out


def region_columns(blobs: list[bytes | None]) -> np.ndarray:
    """(N, R) uint64 region pHashes (R = len(REGIONS)) from the catalog's ``region_phashes``
    blobs (None: zeros). A blob of the older layout (the nine grid regions alone, until `curate
    images` refills it) gives those nine, its corners zero."""
    regions = len(REGIONS)
    out = np.zeros((len(blobs), regions), dtype=np.uint64)
    for row, blob in enumerate(blobs):
        if blob is not None and len(blob) % 8 == 0 and 0 < len(blob) <= 8 * regions:
            codes = np.frombuffer(blob, dtype="<u8")
            out[row, : len(codes)] = codes
    return out


def region_candidates(t: HashTable, min_information: float, radius: int) -> list[tuple[int, int, int]]:
    """Row pairs (i, j, distance): the one picture j with a region (:func:`~curation.images.hashing.
    region_phashes`) whose pHash comes within ``radius`` of row i's whole thumbnail, the closest
    (ties: the lower row), both pictures informative: a region cut out and reposted, whose
    embedding can be far from its original's. One pair a post, so the pairs grow with the board."""
    if t.region_phash is None or t.thumb_phash is None or radius < 0:
        return []
    hashed = np.flatnonzero((t.information >= min_information) & (t.thumb_phash != 0))
    regions = t.region_phash.shape[1]
    owner = np.repeat(hashed, regions)
    codes = t.region_phash[hashed].ravel()
    known = codes != 0
    owner, codes = owner[known], codes[known]
    # a picture's own regions may come near its whole: each query asks for enough to pass them
    qi, ij, dist = radius_pairs(codes, t.thumb_phash[hashed], radius, per_query=regions + 1)
    i, j = hashed[qi], owner[ij]
    keep = i != j
    i, j, dist = i[keep], j[keep], dist[keep]
    order = np.lexsort((j, dist, i))  # by post, then closest, then lower row
    i, j, dist = i[order], j[order], dist[order]
    first = np.flatnonzero(np.r_[True, i[1:] != i[:-1]]) if len(i) else np.zeros(0, np.int64)
    return list(zip(i[first].tolist(), j[first].tolist(), dist[first].tolist()))


def alignment_candidates(
    t: HashTable, min_information: float, radius: int, background_radius: int, floor: float | None = None, per_post: int = 0
) -> list[tuple[int, int, int]]:
    """Row pairs (i, j, distance) whose hashes come near without matching, for a pixel check
    (:func:`curation.dedupe.align.alignment`): pHashes within ``radius`` (a padded copy whose
    padding was not all trimmed, a crop), pHashes of the whole untrimmed thumbnails within
    ``radius`` (a resize whose trim cut it unlike its original), one picture's thumbnail less its
    flat margins against the other's whole within ``radius`` (letterbox padding around a grainy
    canvas, which the trim keeps), or whitened-background pHashes within
    ``background_radius`` between a transparent and an opaque picture (a drawing reposted on a
    colour). Pictures below ``min_information`` take no part, except that with ``floor`` one
    at or above it may pair with one above ``min_information`` (padding that makes a copy
    near-flat: the original still has the spread that the pixel check needs).

    With ``per_post`` > 0 each search gives each picture only its ``per_post`` closest pairs (a
    pair may come from either side, and twice), so the pairs grow with the board, not with the
    square of its look-alikes."""
    own = per_post and per_post + 1  # a search of a set against itself finds each picture too
    out: list[tuple[int, int, int]] = []
    lowest = min_information if floor is None else min(floor, min_information)
    hashed = np.flatnonzero((t.information >= lowest) & (t.phash != 0))

    def informative(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return (i != j) & (np.maximum(t.information[i], t.information[j]) >= min_information)

    if len(hashed) > 1 and radius >= 0:
        for codes in (t.phash, t.thumb_phash):
            if codes is not None:
                qi, ij, dist = radius_pairs(codes[hashed], codes[hashed] if per_post else None, radius, per_query=own)
                keep = informative(hashed[qi], hashed[ij])
                out += list(zip(hashed[qi[keep]].tolist(), hashed[ij[keep]].tolist(), dist[keep].tolist()))
        if t.thumb_phash is not None and t.unpadded_phash is not None:
            padded = hashed[t.unpadded_phash[hashed] != 0]
            qi, ij, dist = radius_pairs(t.thumb_phash[hashed], t.unpadded_phash[padded], radius, per_query=own)
            keep = informative(padded[qi], hashed[ij])
            out += list(zip(padded[qi[keep]].tolist(), hashed[ij[keep]].tolist(), dist[keep].tolist()))
    if t.bg_phash is not None and t.has_alpha is not None and background_radius >= 0:
        transparent = np.flatnonzero(t.has_alpha & (t.bg_phash != 0))
        opaque = np.flatnonzero(~t.has_alpha & (t.bg_phash != 0) & (t.information >= min_information))
        for query in (t.bg_phash[transparent],) + ((t.bg_black_phash[transparent],) if t.bg_black_phash is not None else ()):
            qi, ij, dist = radius_pairs(t.bg_phash[opaque], query, background_radius, per_query=per_post)
            out += list(zip(transparent[qi].tolist(), opaque[ij].tolist(), dist.tolist()))
    return out
