"""Exact and perceptual hashes of decoded images. Pure functions on PIL images, no files.

Hashes are taken of a *normalised* picture so that the board's usual reposting tricks do not
hide a duplicate: transparency is flattened onto a fixed background, and uniform borders or
letterbox padding (black, white or any flat colour) are trimmed. Mirrored reposts are caught
by also hashing the mirror image.
"""

from __future__ import annotations

import hashlib

import imagehash
import numpy as np
from PIL import Image, ImageChops, ImageOps

BORDER_TOLERANCE = 12  # max channel difference from the corner colour still counted as border


def to_uint64(h: imagehash.ImageHash) -> int:
    """A 64-bit imagehash as an unsigned integer (row-major bits, first bit most significant)."""
    bits = np.asarray(h.hash, dtype=np.uint8).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes: 0..64."""
    return (a ^ b).bit_count()


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float greyscale scaled to 8 bits (a plain convert would clip them to white)."""
    if img.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return img
    arr = np.asarray(img, dtype=np.float64)
    top = 65535.0 if img.mode.startswith("I") and arr.max() > 255 else 255.0
    return Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")


def pixel_digest(img: Image.Image) -> str:
    """sha256 of the decoded pixels (with size and mode): equal for re-encodes that keep them."""
    mode = "RGBA" if has_alpha_channel(img) else "RGB"
    px = img.convert(mode)
    return hashlib.sha256(f"{mode}:{px.width}x{px.height}:".encode() + px.tobytes()).hexdigest()


def has_alpha_channel(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def has_real_alpha(img: Image.Image) -> bool:
    """True when some pixel is not fully opaque (an all-255 alpha channel does not count)."""
    if not has_alpha_channel(img):
        return False
    alpha = img.convert("RGBA").getchannel("A")
    return alpha.getextrema()[0] < 255


def flatten_alpha(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB: transparent areas composited onto ``background``; opaque images just converted."""
    if not has_alpha_channel(img):
        return to_8bit(img).convert("RGB")
    rgba = img.convert("RGBA")
    base = Image.new("RGBA", rgba.size, background + (255,))
    return Image.alpha_composite(base, rgba).convert("RGB")


def is_padding_colour(rgb: tuple[int, ...]) -> bool:
    """Near-black or near-white: the colours reposters pad and letterbox with."""
    return max(rgb[:3]) <= 40 or min(rgb[:3]) >= 215


def trim_border(img: Image.Image, tolerance: int = BORDER_TOLERANCE, max_fraction: float = 0.45) -> Image.Image:
    """Cut a black or white border or letterbox (the colour of the top-left pixel) from an RGB image.

    Other corner colours are left alone: a sky or a coloured background is part of the
    drawing, and trimming it would cut an original differently from its padded copy. Keeps the
    image when the 'border' would take more than ``max_fraction`` of either side (a flat
    drawing is not all border).
    """
    corner = img.getpixel((0, 0))
    if not is_padding_colour(corner if isinstance(corner, tuple) else (corner,) * 3):
        return img
    diff = ImageChops.difference(img, Image.new(img.mode, img.size, corner)).convert("L")
    bbox = diff.point(lambda v: 255 if v > tolerance else 0).getbbox()
    if bbox is None:
        return img
    left, top, right, bottom = bbox
    w, h = img.size
    if (w - (right - left)) > max_fraction * w or (h - (bottom - top)) > max_fraction * h:
        return img
    return img.crop(bbox) if bbox != (0, 0, w, h) else img


def perceptual_hashes(img: Image.Image) -> dict[str, int]:
    """pHash and dHash (64-bit) of a normalised RGB image and of its mirror image."""
    grey = img.convert("L")
    mirror = ImageOps.mirror(grey)
    return {
        "phash": to_uint64(imagehash.phash(grey)),
        "dhash": to_uint64(imagehash.dhash(grey)),
        "phash_mirror": to_uint64(imagehash.phash(mirror)),
        "dhash_mirror": to_uint64(imagehash.dhash(mirror)),
    }


def information(img: Image.Image) -> float:
    """Grey-level standard deviation of a 32x32 thumbnail: near 0 for flat-colour images, whose
    perceptual hashes say little (different drawings hash alike) and must not group alone."""
    small = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    return float(small.std())


def foreground_mask(img: Image.Image, tolerance: int = 24) -> Image.Image | None:
    """The drawing's silhouette as an L image (255 = drawn): from real transparency, or from the
    pixels that differ from a flat background (all four corners one colour). None when there is
    neither. A transparent image and its copy composited on any colour share this mask.
    """
    if has_real_alpha(img) if has_alpha_channel(img) else False:
        return img.convert("RGBA").getchannel("A").point(lambda a: 255 if a >= 128 else 0)
    rgb = to_8bit(img).convert("RGB")
    w, h = rgb.size
    corners = [rgb.getpixel(p) for p in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1))]
    if max(max(abs(a - b) for a, b in zip(c, corners[0])) for c in corners) > tolerance:
        return None
    diff = ImageChops.difference(rgb, Image.new("RGB", rgb.size, corners[0]))
    channels = diff.split()
    spread = ImageChops.lighter(ImageChops.lighter(channels[0], channels[1]), channels[2])
    return spread.point(lambda v: 255 if v > tolerance else 0)


def mask_hash(img: Image.Image) -> int | None:
    """pHash of :func:`foreground_mask`, or None."""
    mask = foreground_mask(img)
    return None if mask is None else to_uint64(imagehash.phash(mask))
