"""Exact and perceptual hashes of decoded images. Pure functions on PIL images, no files.

Hashes are taken of a *normalised* picture so that the board's usual reposting tricks do not
hide a duplicate: transparency is flattened onto a fixed background, and uniform borders or
letterbox padding (black or white) are trimmed. Mirrored reposts are caught by also hashing
the mirror image, and a transparent drawing reposted on a colour by hashing both with their
background turned white.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image, ImageChops, ImageFilter
from scipy import ndimage

from .keypoints import KEYPOINT_SIDE, find_keypoints

BORDER_TOLERANCE = 24  # max channel difference from the corner colour still counted as border
LAYER_CONTRAST = 96  # colour difference between two trimmed layers across which a blended line is shaved
BORDER_NOISE = 0.02  # a row or column with up to this fraction of other pixels still counts as border
FLAT_TOLERANCE = 24  # max channel difference from the corner colour counted as a flat background
MIN_FOREGROUND = 0.05  # the least share of a picture left once its flat background is whitened
HASH_SIDE = 128  # pictures are box-reduced to about this short side before hashing
THUMB_SIDE = 64  # long side of the grey thumbnail kept for aligning crops and padded copies
PADDING_TOLERANCE = 1  # grey levels a thumbnail row or column may vary by and still be letterbox padding
HASH_VERSION = 18  # bump when a hash changes: cached hashes of another version are recomputed

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
_DCT = np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32) + 1) / 64)  # (8, 32): DCT-II rows 0..7
_MIRROR = (-1.0) ** np.arange(8)  # (8,): a mirror image flips the sign of the odd horizontal frequencies


def _pack(bits: np.ndarray) -> int:
    """(8, 8) bool -> a 64-bit integer, row-major, first bit most significant (imagehash's order)."""
    return int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes: 0..64."""
    return (a ^ b).bit_count()


WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "F")  # 16-bit and float greyscale: see to_8bit


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float greyscale scaled to 8 bits (a plain convert would clip them to white)."""
    if img.mode not in WIDE_MODES:
        return img
    arr = np.asarray(img, dtype=np.float64)
    top = 65535.0 if img.mode.startswith("I") and arr.max() > 255 else 255.0
    return Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")


def pixel_digest(img: Image.Image, reduction: str = "") -> str:
    """sha256 of the decoded pixels (with size and mode): equal for re-encodes that keep them.
    ``reduction`` names a reduced decode (e.g. "1/8" for a JPEG decoded at an eighth), so that
    it never equals a full decode."""
    mode = "RGBA" if has_alpha_channel(img) else "RGB"
    px = as_mode(img, mode)
    scale = f":{reduction}" if reduction else ""
    digest = hashlib.sha256(f"{mode}:{px.width}x{px.height}{scale}:".encode())
    for chunk in raw_chunks(px):
        digest.update(chunk)
    return digest.hexdigest()


def raw_chunks(img: Image.Image, chunk_bytes: int = 1 << 20):
    """The bytes of ``img.tobytes()`` in pieces of about ``chunk_bytes``: a board-sized picture
    is hashed without the two whole-picture copies that joining them would make."""
    img.load()
    if not img.width or not img.height:
        return
    encoder = Image._getencoder(img.mode, "raw", img.mode)
    try:
        encoder.setimage(img.im, (0, 0, *img.size))
        while True:
            _, errcode, data = encoder.encode(max(chunk_bytes, img.width * 4))
            yield data
            if errcode:
                break
        if errcode < 0:
            raise RuntimeError(f"raw encoder error {errcode}")
    finally:
        encoder.cleanup()


def as_mode(img: Image.Image, mode: str) -> Image.Image:
    """``img`` in ``mode``, converted only when it is not already (``convert`` would copy it)."""
    return img if img.mode == mode else img.convert(mode)


def has_alpha_channel(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def has_real_alpha(img: Image.Image) -> bool:
    """True when some pixel is not fully opaque (an all-255 alpha channel does not count)."""
    if not has_alpha_channel(img):
        return False
    alpha = as_mode(img, "RGBA").getchannel("A")
    return alpha.getextrema()[0] < 255


def flatten_alpha(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB: transparent areas composited onto ``background``; opaque images just converted."""
    if not has_alpha_channel(img):
        return to_8bit(img).convert("RGB")
    rgba = as_mode(img, "RGBA")
    base = Image.new("RGBA", rgba.size, background + (255,))
    return Image.alpha_composite(base, rgba).convert("RGB")


def is_padding_colour(rgb: tuple[int, ...]) -> bool:
    """Near-black or near-white and neutral: the colours reposters pad and letterbox with (a
    dark navy night sky is not padding)."""
    return (max(rgb[:3]) <= 40 or min(rgb[:3]) >= 215) and max(rgb[:3]) - min(rgb[:3]) <= 16


def trim_border(img: Image.Image, tolerance: int = BORDER_TOLERANCE, max_fraction: float = 0.8) -> Image.Image:
    """Cut black, white or near-neutral borders and letterboxes from an RGB image, layer by layer
    (black padding around a near-white background: the padding, then the background, so that
    the copy is cut like its original, whose near-white background is trimmed too).

    Only neutral padding colours are trimmed: a sky or a coloured background is part of the
    drawing, and trimming it would cut an original differently from its padded copy. A layer
    that would take more than ``max_fraction`` of either side is kept (a flat drawing is not
    all border).
    """
    outer_colour = None
    for _ in range(3):
        trimmed, colour = _trim_layer(img, tolerance, max_fraction)
        if trimmed is img and outer_colour is not None and min(img.size) > 2:
            # The reduction blends the edge of one layer into a contrasting next one (white
            # padding around a near-black picture): a one-pixel line of neither colour that
            # hides the next layer's colour from the corner.
            shaved = img.crop((1, 1, img.width - 1, img.height - 1))
            inner, inner_colour = _trim_layer(shaved, tolerance, max_fraction)
            if inner is not shaved and np.abs(inner_colour - outer_colour).max() >= LAYER_CONTRAST:
                trimmed = inner
        if trimmed is img:
            break
        outer_colour = colour
        img = trimmed
    return img


def corner_colour(img: Image.Image) -> np.ndarray:
    """(3,) float: the median colour of the top-left 2 x 2 pixels (a noisy pixel alone would mislead)."""
    px = np.sort(np.asarray(img.crop((0, 0, 2, 2))).reshape(4, 3), axis=0)
    return (px[1] + px[2].astype(np.float64)) / 2  # the median of four: the mean of the middle two


def _trim_layer(img: Image.Image, tolerance: int, max_fraction: float) -> tuple[Image.Image, np.ndarray]:
    """One layer of :func:`trim_border`: the rows and columns of the top-left corner's colour
    cut (``img`` itself when there are none to cut), and that colour ((3,) float)."""
    corner = corner_colour(img)
    if not is_padding_colour(tuple(corner.tolist())):
        return img, corner
    # A row or column is border while almost all of it is the border colour: grain or JPEG
    # ringing on a few pixels does not stop the trim, and a noisy background is never half-cut.
    content = colour_distance(img, corner) > tolerance  # (H, W)
    rows = np.flatnonzero(content.mean(axis=1) > BORDER_NOISE)
    cols = np.flatnonzero(content.mean(axis=0) > BORDER_NOISE)
    if not len(rows):
        return img, corner
    left, top, right, bottom = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    bbox = (left, top, right, bottom)
    w, h = img.size
    if (w - (right - left)) > max_fraction * w or (h - (bottom - top)) > max_fraction * h:
        return img, corner
    return (img.crop(bbox) if bbox != (0, 0, w, h) else img), corner


def colour_distance(rgb: Image.Image, colour: np.ndarray) -> np.ndarray:
    """(H, W) uint8: each pixel's largest channel difference from ``colour`` (in Pillow's C loops)."""
    flat = Image.new("RGB", rgb.size, tuple(int(round(float(c))) for c in colour[:3]))
    r, g, b = ImageChops.difference(rgb, flat).split()
    return np.asarray(ImageChops.lighter(ImageChops.lighter(r, g), b))


def shrink(img: Image.Image, side: int = HASH_SIDE) -> Image.Image:
    """Box-reduce by the largest integer factor that keeps the short side >= ``side`` (cheap;
    hashes look at 32 x 32 pixels, and borders are still trimmed to a pixel of ``side``)."""
    factor = min(img.size) // side
    return img.reduce(factor) if factor >= 2 else img


def perceptual_hashes(picture: Image.Image) -> dict[str, int | float]:
    """pHash and dHash (64-bit, as imagehash computes them) of a normalised picture and of its
    mirror image, and the picture's information (grey-level spread of its 32 x 32 thumbnail:
    near 0 for flat-colour images, whose hashes say little and must not group alone).

    Two resizes serve all five values: the mirror's pHash comes from the same DCT with the odd
    horizontal frequencies negated, its dHash from the 9 x 8 thumbnail read right to left.
    """
    grey = picture.convert("L")
    small, low = _low_frequencies(grey)
    mirrored = low * _MIRROR
    tiny = np.asarray(grey.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)  # (8, 9)
    flipped = tiny[:, ::-1]
    return {
        "phash": _pack(low > np.median(low)),
        "dhash": _pack(tiny[:, 1:] > tiny[:, :-1]),
        "phash_mirror": _pack(mirrored > np.median(mirrored)),
        "dhash_mirror": _pack(flipped[:, 1:] > flipped[:, :-1]),
        "information": float(small.std()),
    }


def _low_frequencies(grey: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(32, 32) float64 LANCZOS thumbnail of a grey picture and its (8, 8) lowest DCT-II
    frequencies (vertical x horizontal): what a pHash thresholds at their median."""
    small = np.asarray(grey.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    return small, _DCT @ small @ _DCT.T


def whiten_flat_background(rgb: Image.Image, tolerance: int = FLAT_TOLERANCE) -> Image.Image | None:
    """The picture with its flat background (the colour all four corners share) turned white,
    or None when the corners disagree. A drawing composited on pink, grey or black and the
    same drawing with transparency flattened on white then look alike. None too when less than
    ``MIN_FOREGROUND`` of the picture is left."""
    w, h = rgb.size
    patches = np.stack(
        [
            np.asarray(rgb.crop(box), dtype=np.float32).reshape(-1, 3).mean(axis=0)  # (4, 3)
            for box in ((0, 0, 2, 2), (w - 2, 0, w, 2), (0, h - 2, 2, h), (w - 2, h - 2, w, h))
        ]
    )
    if np.abs(patches - patches[0]).max() > tolerance + 8:
        return None  # most pictures stop here, before the blur
    smooth = rgb.filter(ImageFilter.BoxBlur(1))  # grain averaged out
    corners = np.asarray(smooth, dtype=np.int16)[[0, 0, -1, -1], [0, -1, 0, -1]]  # (4, 3)
    if np.abs(corners - corners[0]).max() > tolerance:
        return None
    near = colour_distance(smooth, np.median(corners, axis=0)) <= tolerance  # (H, W)
    # Only the background connected to the edges: a grey shape inside the drawing is not the
    # grey background it was composited on.
    labels, _ = ndimage.label(near)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    touches_edge = np.zeros(labels.max() + 1, dtype=bool)
    touches_edge[edge_labels] = True
    touches_edge[0] = False  # label 0: not background
    background = touches_edge[labels]
    if background.mean() > 1 - MIN_FOREGROUND:
        return None  # a small object on a wide background: its hash says little but where it sits
    out = rgb.copy()
    out.paste(WHITE, mask=Image.fromarray(background.view(np.uint8) * 255, "L"))
    return out


def thumbnail(picture: Image.Image, alpha: Image.Image | None) -> dict[str, bytes | int | None]:
    """The grey thumbnail that :mod:`curation.dedupe.align` slides over another: ``thumb``
    (h x w uint8 bytes, row-major, long side ``THUMB_SIDE``), ``thumb_alpha`` (the same for the
    alpha channel of a transparent picture, else None) and ``thumb_width`` (w). Not trimmed:
    a crop or a padded copy is compared with the canvas it came from. And ``thumb_phash``, the
    pHash of that whole canvas: a resize keeps it where a trim that cut the two copies
    differently (a noisy dark background) moved the trimmed pHash; and ``unpadded_phash``
    (:func:`unpadded_phash`)."""
    scale = THUMB_SIDE / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))) if scale < 1 else picture.size
    grey = picture.convert("L").resize(size, Image.Resampling.BOX)
    _, low = _low_frequencies(grey)
    return {
        "thumb": grey.tobytes(),
        "thumb_width": size[0],
        "thumb_phash": _pack(low > np.median(low)),
        "thumb_alpha": None if alpha is None else alpha.resize(size, Image.Resampling.BOX).tobytes(),
        **thumbnail_hashes(np.asarray(grey), low),
    }


TURNS = (90, 180, 270)  # degrees counterclockwise: the turned_phash_<deg> columns
REGION_SIDE = 0.6  # share of each side a region of the thumbnail keeps ...
REGION_STARTS = (0.0, 0.2, 0.4)  # ... starting at these shares of each side: a 3 x 3 grid of regions
CORNER_SIDE = 0.75  # and four corners keeping this share of each side (a corner crop's own size)
REGIONS = tuple((x, y, REGION_SIDE) for y in REGION_STARTS for x in REGION_STARTS) + tuple(
    (x, y, CORNER_SIDE) for y in (0.0, 1 - CORNER_SIDE) for x in (0.0, 1 - CORNER_SIDE)
)  # (left, top, side) as shares of the thumbnail
_ROWS, _COLS = np.arange(8)[:, None], np.arange(8)[None, :]


def turned_frequencies(low: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (8, 8) lowest DCT-II frequencies of a picture turned 90, 180 and 270 degrees
    counterclockwise, from its own: a quarter turn transposes the frequencies and negates the
    odd rows (three quarters: the odd columns), a half turn negates those with an odd sum of
    indices. The reduction to 32 x 32 turns with the picture, so no resize or DCT is redone."""
    return low.T * (-1.0) ** _ROWS, low * (-1.0) ** (_ROWS + _COLS), low.T * (-1.0) ** _COLS


def thumbnail_hashes(grey: np.ndarray, low: np.ndarray | None = None) -> dict[str, int | bytes]:
    """The hashes computed from a (h, w) uint8 thumbnail alone (so a catalog hashed before a
    column existed fills it from stored thumbnails, no file decoded again): ``unpadded_phash``,
    ``turned_phash_90/180/270``, the pHash of the whole thumbnail turned by that many degrees
    counterclockwise (a turned repost's own ``thumb_phash`` comes near one of its original's),
    and ``region_phashes`` (:func:`region_phashes`).
    ``low``: the thumbnail's (8, 8) low frequencies when already computed."""
    if low is None:
        _, low = _low_frequencies(Image.fromarray(np.ascontiguousarray(grey)))
    out: dict[str, int | bytes] = {"unpadded_phash": unpadded_phash(grey)}
    for degrees, turned in zip(TURNS, turned_frequencies(low)):
        out[f"turned_phash_{degrees}"] = _pack(turned > np.median(turned))
    out["region_phashes"] = region_phashes(grey)
    return out


def region_phashes(grey: np.ndarray) -> bytes:
    """The pHashes of the ``REGIONS`` of a (h, w) uint8 thumbnail: nine of ``REGION_SIDE`` of its
    width and height on a 3 x 3 grid (``REGION_STARTS``), then its four corners at
    ``CORNER_SIDE``, as little-endian uint64 (8 bytes a region; all zero when the thumbnail is
    too small). A region cut out of a picture and reposted (a heavy or a corner crop) hashes
    like one of these, though its embedding and whole-picture hashes are far from its
    original's (:func:`curation.dedupe.edges.region_candidates`)."""
    h, w = grey.shape
    if min(round(REGION_SIDE * h), round(REGION_SIDE * w)) < 8:
        return bytes(8 * len(REGIONS))
    picture = Image.fromarray(np.ascontiguousarray(grey))
    small = np.stack(
        [
            np.asarray(
                picture.crop((round(x * w), round(y * h), round(x * w) + round(side * w), round(y * h) + round(side * h))).resize(
                    (32, 32), Image.Resampling.LANCZOS
                ),
                dtype=np.float64,
            )
            for x, y, side in REGIONS
        ]
    )  # (R, 32, 32): each region reduced as _low_frequencies reduces a whole picture
    low = (_DCT @ small @ _DCT.T).reshape(len(small), 64)  # (R, 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8").ravel().astype("<u8").tobytes()


def uniform_margins(grey: np.ndarray, tolerance: int = PADDING_TOLERANCE) -> tuple[int, int, int, int]:
    """(top, bottom, left, right): how many outer rows and columns of a (h, w) uint8 thumbnail
    are one flat grey (each within ``tolerance``, all of a side alike), at most a third of the
    thumbnail from each side."""

    def run(lo: list[int], hi: list[int]) -> int:
        if not lo:
            return 0
        centre = (lo[0] + hi[0]) / 2
        for k, (a, b) in enumerate(zip(lo, hi)):
            if b - a > tolerance or abs((a + b) / 2 - centre) > tolerance:
                return k
        return len(lo)

    h, w = grey.shape
    row_lo, row_hi = grey.min(axis=1).tolist(), grey.max(axis=1).tolist()  # (h,) each
    col_lo, col_hi = grey.min(axis=0).tolist(), grey.max(axis=0).tolist()  # (w,) each
    return (
        run(row_lo[: h // 3], row_hi[: h // 3]),
        run(row_lo[::-1][: h // 3], row_hi[::-1][: h // 3]),
        run(col_lo[: w // 3], col_hi[: w // 3]),
        run(col_lo[::-1][: w // 3], col_hi[::-1][: w // 3]),
    )


def unpadded_phash(grey: np.ndarray) -> int:
    """pHash of a (h, w) uint8 thumbnail with its flat outer margins (:func:`uniform_margins`)
    cut off, or 0 when it has none (or too little is left). A letterboxed or padded copy of a
    picture whose canvas is not one flat colour (paper grain, noise) keeps its padding through
    the trim, which stops at the first layer it cannot tell from the canvas; cut exactly,
    the copy's thumbnail is its original's whole thumbnail again, and this is compared with
    the other's ``thumb_phash``. Padding is exactly flat; grain is not."""
    top, bottom, left, right = uniform_margins(grey)
    if top + bottom + left + right == 0:
        return 0
    inner = grey[top : grey.shape[0] - bottom, left : grey.shape[1] - right]
    if min(inner.shape) < 8:
        return 0
    _, low = _low_frequencies(Image.fromarray(np.ascontiguousarray(inner)))
    return _pack(low > np.median(low))


def picture_hashes(
    img: Image.Image, background: tuple[int, int, int], transparent: bool
) -> dict[str, int | float | bytes | None]:
    """Every perceptual hash of one decoded frame (``img``, any mode): the normalised picture's
    (:func:`perceptual_hashes`: alpha flattened on ``background``, reduced, borders trimmed) and
    ``bg_phash``/``bg_dhash``/``bg_information`` of the picture with its background turned white (transparency
    flattened on white, or a flat background whitened; None when it has neither).
    ``transparent``: the frame has real alpha (:func:`has_real_alpha`); then also
    ``bg_black_phash``/``bg_black_dhash``: flattened on black, then whitened. And the
    picture's :func:`thumbnail` (with its alpha when ``transparent``)."""
    if has_alpha_channel(img):
        # Reduced first, flattened after: the reduction averages premultiplied colours, so this
        # equals flattening the whole picture (to rounding) at a fraction of the cost.
        rgba = shrink(as_mode(img, "RGBA"))
        picture = flatten_alpha(rgba, background)
        on_white = picture if background == WHITE else flatten_alpha(rgba, WHITE)
        # A transparent drawing reposted on black loses its black outlines into the background
        # when the copy is whitened; the original flattened on black and whitened the same way
        # is what such a copy should look like.
        on_black = flatten_alpha(rgba, BLACK) if transparent else None
        alpha = rgba.getchannel("A") if transparent else None
    else:
        picture = shrink(img if img.mode == "RGB" else to_8bit(img).convert("RGB"))
        on_white = on_black = alpha = None
    hashes: dict[str, int | float | bytes | None] = dict(perceptual_hashes(trim_border(picture)))
    hashes.update(thumbnail(picture, alpha))
    whitened = whiten_flat_background(on_white) if transparent else whiten_flat_background(picture)
    # Not trimmed: a copy keeps its canvas, and a dark signature lost on a black background
    # would move a trimmed box.
    bg = None if whitened is None else perceptual_hashes(whitened)
    hashes["bg_phash"], hashes["bg_dhash"], hashes["bg_information"] = (
        (bg["phash"], bg["dhash"], bg["information"]) if bg else (None, None, None)
    )
    black_whitened = None if on_black is None else whiten_flat_background(on_black)
    black = None if black_whitened is None else perceptual_hashes(black_whitened)
    hashes["bg_black_phash"], hashes["bg_black_dhash"] = (black["phash"], black["dhash"]) if black else (None, None)
    return hashes


def keypoint_columns(img: Image.Image, background: tuple[int, int, int]) -> dict[str, bytes]:
    """``keypoint_xy`` and ``keypoints``: the ORB keypoints of the picture's :func:`keypoint_grey`,
    both empty when it has too few (:mod:`curation.images.keypoints`)."""
    found = find_keypoints(keypoint_grey(img, background, exact=False))
    return dict(zip(("keypoint_xy", "keypoints"), found.pack())) if found else {"keypoint_xy": b"", "keypoints": b""}


def keypoint_grey(img: Image.Image, background: tuple[int, int, int], exact: bool = True) -> Image.Image:
    """The grey picture keypoints are found on (mode L): alpha flattened on ``background``,
    reduced to about ``KEYPOINT_SIDE`` on the long side by whole pixels; with ``exact``, then
    resized to exactly that long side (small pictures enlarged), so that its pixels are the
    keypoint frame's."""
    small = _reduced_near_keypoint_side(img)
    grey = flatten_alpha(small, background).convert("L") if has_alpha_channel(small) else to_8bit(small).convert("L")
    return _at_keypoint_side(grey) if exact else grey


def keypoint_colour(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """The picture of :func:`keypoint_grey` in colour (mode RGB), on the same grid: alpha
    flattened on ``background``, reduced and resized alike."""
    return _at_keypoint_side(flatten_alpha(_reduced_near_keypoint_side(img), background))


def _reduced_near_keypoint_side(img: Image.Image) -> Image.Image:
    """``img`` reduced by whole pixels to about ``KEYPOINT_SIDE`` on the long side (not below)."""
    factor = max(img.size) // KEYPOINT_SIDE
    return img.reduce(factor) if factor >= 2 and img.mode not in WIDE_MODES else img


def _at_keypoint_side(img: Image.Image) -> Image.Image:
    """``img`` resized to exactly ``KEYPOINT_SIDE`` on the long side (box filter)."""
    if max(img.size) == KEYPOINT_SIDE:
        return img
    scale = KEYPOINT_SIDE / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BOX)
