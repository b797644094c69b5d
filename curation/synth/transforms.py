"""Image transforms that turn an original into a planted duplicate of a named kind.

Each takes and returns a PIL image; parameters are plain dicts stored in the truth files so a
duplicate can be explained (``{"scale": 0.62}``). Dimension arithmetic lives in
:func:`transformed_size` so metadata agrees with pixels even when no image is written.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from .fonts import font
from .vocab import COLOURS

DUPLICATE_KINDS: dict[str, float] = {  # kind -> share of planted duplicates
    "exact": 0.11,
    "reencode": 0.13,
    "resize": 0.13,
    "crop": 0.10,
    "border": 0.10,
    "alpha_background": 0.06,
    "color_shift": 0.09,
    "overlay": 0.09,
    "mirror": 0.09,
    "variant": 0.10,
}
# What boards really carry beyond the kinds above (``--reposts all``): heavier crops, turns,
# censoring, captions, signatures, destructive re-encodes and several edits at once.
REPOST_KINDS: dict[str, float] = {
    "corner_crop": 0.06,  # three quarters of each side, from one corner
    "heavy_crop": 0.06,  # the middle 60% of each side
    "crop_resize": 0.05,  # a crop scaled back up to the original's size
    "rotate_small": 0.06,  # a few degrees, canvas expanded
    "rotate_90": 0.04,
    "rotate_180": 0.03,
    "censor_bars": 0.06,
    "mosaic": 0.05,
    "caption": 0.05,  # a text strip added above or below
    "signature": 0.04,
    "greyscale": 0.04,
    "blur_upscale": 0.04,
    "jpeg_low": 0.04,  # JPEG quality 10
    "combined": 0.05,  # a small crop, a colour shift, a resize and a lossy JPEG together
}
REPOSTS = ("classic", "all")  # which kinds a board plants: DUPLICATE_KINDS, or both tables
WATERMARK_TEXT = "synthboard"


def _box(rng: np.random.Generator, area: tuple[float, float]) -> list[float]:
    """A random box (left, top, right, bottom as fractions) covering about ``area`` of the picture."""
    share = float(rng.uniform(*area))
    aspect = float(rng.uniform(0.4, 2.5))
    w, h = min(0.9, math.sqrt(share * aspect)), min(0.9, math.sqrt(share / aspect))
    x, y = float(rng.uniform(0.05, 0.95 - w)), float(rng.uniform(0.05, 0.95 - h))
    return [round(x, 3), round(y, 3), round(x + w, 3), round(y + h, 3)]


def sample_params(kind: str, rng: np.random.Generator, source_ext: str) -> dict:
    """Random parameters for one duplicate of ``kind``; ``ext`` is the duplicate's file type."""
    if kind == "exact":
        return {"ext": source_ext}
    if kind == "reencode":
        options = [("jpg", int(rng.integers(55, 80))), ("webp", int(rng.integers(60, 85))), ("png", 0)]
        options = [o for o in options if o[0] != source_ext] + ([("png", 0)] if source_ext == "png" else [])
        ext, quality = options[int(rng.integers(len(options)))]
        return {"ext": ext, "quality": quality}
    if kind == "resize":
        return {"ext": source_ext, "scale": round(float(rng.choice([rng.uniform(0.45, 0.85), rng.uniform(1.15, 1.5)])), 3)}
    if kind == "crop":
        fracs = rng.uniform(0.0, 0.15, 4) * (rng.random(4) < 0.6)
        if fracs.sum() < 0.03:
            fracs[int(rng.integers(4))] = 0.08
        return {
            "ext": source_ext,
            "left": round(float(fracs[0]), 3),
            "top": round(float(fracs[1]), 3),
            "right": round(float(fracs[2]), 3),
            "bottom": round(float(fracs[3]), 3),
        }
    if kind == "border":
        colour = "black" if rng.random() < 0.5 else "white"
        if rng.random() < 0.5:  # letterbox to a square, as reposting sites do
            return {"ext": source_ext, "colour": colour, "mode": "square"}
        return {"ext": source_ext, "colour": colour, "mode": "margin", "margin": round(float(rng.uniform(0.04, 0.12)), 3)}
    if kind == "alpha_background":
        return {
            "ext": "jpg" if rng.random() < 0.5 else "png",
            "colour": str(rng.choice(["white", "black", "grey", "pink"])),
            "quality": 92,
        }
    if kind == "color_shift":
        return {
            "ext": source_ext,
            "hue": int(rng.integers(5, 16)) * int(rng.choice([-1, 1])),
            "brightness": round(float(rng.uniform(0.9, 1.1)), 3),
            "contrast": round(float(rng.uniform(0.9, 1.1)), 3),
        }
    if kind == "overlay":
        return {
            "ext": source_ext,
            "corner": str(rng.choice(["tl", "tr", "bl", "br"])),
            "opacity": round(float(rng.uniform(0.35, 0.7)), 2),
        }
    if kind == "mirror":
        return {"ext": source_ext}
    if kind == "variant":
        return {"ext": source_ext}
    return _repost_params(kind, rng, source_ext)


def _repost_params(kind: str, rng: np.random.Generator, source_ext: str) -> dict:
    if kind == "corner_crop":
        return {"ext": source_ext, "corner": str(rng.choice(["tl", "tr", "bl", "br"])), "keep": 0.75}
    if kind == "heavy_crop":
        return {"ext": source_ext, "keep": 0.6}
    if kind == "crop_resize":
        fracs = rng.uniform(0.04, 0.15, 4)
        return {"ext": source_ext, **{side: round(float(f), 3) for side, f in zip(("left", "top", "right", "bottom"), fracs)}}
    if kind == "rotate_small":
        return {
            "ext": source_ext,
            "angle": round(float(rng.uniform(2.0, 8.0) * rng.choice([-1, 1])), 2),
            "colour": str(rng.choice(["white", "black"])),
        }
    if kind in ("rotate_90", "rotate_180"):
        return {"ext": source_ext, "turn": str(rng.choice(["left", "right"])) if kind == "rotate_90" else "half"}
    if kind == "censor_bars":
        return {"ext": source_ext, "boxes": [_box(rng, (0.03, 0.08)) for _ in range(int(rng.integers(1, 4)))]}
    if kind == "mosaic":
        return {"ext": source_ext, "box": _box(rng, (0.08, 0.2)), "cells": int(rng.integers(6, 14))}
    if kind == "caption":
        return {"ext": source_ext, "where": str(rng.choice(["top", "bottom"])), "height": round(float(rng.uniform(0.1, 0.2)), 3)}
    if kind == "signature":
        return {
            "ext": source_ext,
            "corner": str(rng.choice(["tl", "tr", "bl", "br"])),
            "colour": str(rng.choice(["black", "red"])),
        }
    if kind == "greyscale":
        return {"ext": source_ext}
    if kind == "blur_upscale":
        return {
            "ext": source_ext,
            "radius": round(float(rng.uniform(1.0, 2.0)), 2),
            "scale": round(float(rng.uniform(1.2, 1.6)), 3),
        }
    if kind == "jpeg_low":
        return {"ext": "jpg", "quality": 10}
    if kind == "combined":
        fracs = rng.uniform(0.0, 0.08, 4)
        return {
            "ext": "jpg",
            "quality": int(rng.integers(25, 45)),
            **{side: round(float(f), 3) for side, f in zip(("left", "top", "right", "bottom"), fracs)},
            "hue": int(rng.integers(5, 12)) * int(rng.choice([-1, 1])),
            "scale": round(float(rng.uniform(0.6, 0.9)), 3),
        }
    raise ValueError(f"unknown duplicate kind {kind!r}")


def _rotated_size(width: int, height: int, angle: float) -> tuple[int, int]:
    """The canvas Pillow's ``rotate(angle, expand=True)`` gives, by its own arithmetic (rounded
    matrix, centre translation), so that metadata agrees with the pixels to the pixel."""
    a = -math.radians(angle % 360.0)
    c, s = round(math.cos(a), 15), round(math.sin(a), 15)
    cx, cy = width / 2, height / 2
    tx, ty = c * -cx + s * -cy + cx, -s * -cx + c * -cy + cy
    corners = ((0, 0), (width, 0), (width, height), (0, height))
    xs = [c * x + s * y + tx for x, y in corners]
    ys = [-s * x + c * y + ty for x, y in corners]
    return math.ceil(max(xs)) - math.floor(min(xs)), math.ceil(max(ys)) - math.floor(min(ys))


def _crop_box(params: dict, width: int, height: int) -> tuple[int, int, int, int]:
    return (
        round(width * params["left"]),
        round(height * params["top"]),
        width - round(width * params["right"]),
        height - round(height * params["bottom"]),
    )


def transformed_size(kind: str, params: dict, width: int, height: int) -> tuple[int, int]:
    """The (width, height) a duplicate of ``kind`` has, given its source's."""
    if kind in ("resize", "blur_upscale"):
        return max(8, round(width * params["scale"])), max(8, round(height * params["scale"]))
    if kind == "crop":
        left, top, right, bottom = _crop_box(params, width, height)
        return right - left, bottom - top
    if kind == "combined":
        left, top, right, bottom = _crop_box(params, width, height)
        return max(8, round((right - left) * params["scale"])), max(8, round((bottom - top) * params["scale"]))
    if kind in ("corner_crop", "heavy_crop"):
        return max(8, round(width * params["keep"])), max(8, round(height * params["keep"]))
    if kind == "rotate_small":
        return _rotated_size(width, height, params["angle"])
    if kind == "rotate_90":
        return height, width
    if kind == "caption":
        return width, height + max(8, round(height * params["height"]))
    if kind == "border":
        if params["mode"] == "square":
            side = max(width, height)
            return side, side
        m = round(min(width, height) * params["margin"])
        return width + 2 * m, height + 2 * m
    return width, height


def overlay_watermark(img: Image.Image, corner: str, opacity: float) -> Image.Image:
    """Semi-transparent text in a corner, as watermarking sites add."""
    base = img.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    w, h = base.size
    text_font = font(int(h * 0.07))
    x = w * 0.04 if corner in ("tl", "bl") else w * 0.55
    y = h * 0.04 if corner in ("tl", "tr") else h * 0.88
    d.rectangle([x - 3, y - 2, x + w * 0.42, y + h * 0.085], fill=(255, 255, 255, int(120 * opacity)))
    d.text((x, y), WATERMARK_TEXT, fill=(30, 30, 30, int(255 * opacity)), font=text_font)
    out = Image.alpha_composite(base, layer)
    return out if img.mode == "RGBA" else out.convert("RGB")


def apply(kind: str, params: dict, img: Image.Image) -> Image.Image:
    """The duplicate's pixels from its source's (``variant`` is rendered, not transformed)."""
    if kind in ("exact", "reencode", "variant"):
        return img
    if kind == "resize":
        return img.resize(transformed_size(kind, params, *img.size), Image.Resampling.LANCZOS)
    if kind == "crop":
        return img.crop(_crop_box(params, *img.size))
    if kind == "border":
        w, h = img.size
        nw, nh = transformed_size(kind, params, w, h)
        fill = COLOURS[params["colour"]] + ((255,) if img.mode == "RGBA" else ())
        out = Image.new(img.mode, (nw, nh), fill)
        out.paste(img, ((nw - w) // 2, (nh - h) // 2))
        return out
    if kind == "alpha_background":
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, COLOURS[params["colour"]] + (255,))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if kind == "color_shift":
        alpha = img.getchannel("A") if img.mode == "RGBA" else None
        rgb = img.convert("RGB")
        hsv = np.asarray(rgb.convert("HSV"), np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(params["hue"] * 255 / 360)) % 256
        rgb = Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
        rgb = ImageEnhance.Contrast(ImageEnhance.Brightness(rgb).enhance(params["brightness"])).enhance(params["contrast"])
        if alpha is not None:
            rgb.putalpha(alpha)
        return rgb
    if kind == "overlay":
        return overlay_watermark(img, params["corner"], params["opacity"])
    if kind == "mirror":
        return ImageOps.mirror(img)
    return _apply_repost(kind, params, img)


def _fill(img: Image.Image, colour: str) -> tuple[int, ...]:
    return COLOURS[colour] + ((255,) if img.mode == "RGBA" else ())


def _apply_repost(kind: str, params: dict, img: Image.Image) -> Image.Image:
    w, h = img.size
    if kind in ("corner_crop", "heavy_crop"):
        nw, nh = transformed_size(kind, params, w, h)
        if kind == "heavy_crop":
            left, top = (w - nw) // 2, (h - nh) // 2
        else:
            left = 0 if params["corner"] in ("tl", "bl") else w - nw
            top = 0 if params["corner"] in ("tl", "tr") else h - nh
        return img.crop((left, top, left + nw, top + nh))
    if kind == "crop_resize":
        return img.crop(_crop_box(params, w, h)).resize((w, h), Image.Resampling.LANCZOS)
    if kind == "rotate_small":
        return img.rotate(params["angle"], Image.Resampling.BICUBIC, expand=True, fillcolor=_fill(img, params["colour"]))
    if kind == "rotate_90":
        return img.transpose(Image.Transpose.ROTATE_90 if params["turn"] == "left" else Image.Transpose.ROTATE_270)
    if kind == "rotate_180":
        return img.transpose(Image.Transpose.ROTATE_180)
    if kind == "censor_bars":
        out = img.copy()
        draw = ImageDraw.Draw(out)
        for left, top, right, bottom in params["boxes"]:
            draw.rectangle([left * w, top * h, right * w, bottom * h], fill=_fill(img, "black"))
        return out
    if kind == "mosaic":
        left, top, right, bottom = (round(v * s) for v, s in zip(params["box"], (w, h, w, h)))
        region = img.crop((left, top, right, bottom))
        cell = max(2, min(w, h) // params["cells"] // 4)
        small = region.resize((max(1, region.width // cell), max(1, region.height // cell)), Image.Resampling.BOX)
        out = img.copy()
        out.paste(small.resize(region.size, Image.Resampling.NEAREST), (left, top))
        return out
    if kind == "caption":
        nw, nh = transformed_size(kind, params, w, h)
        out = Image.new(img.mode, (nw, nh), _fill(img, "white"))
        strip = nh - h
        out.paste(img, (0, strip if params["where"] == "top" else 0))
        draw = ImageDraw.Draw(out)
        y = strip * 0.2 if params["where"] == "top" else h + strip * 0.2
        draw.text((w * 0.05, y), "when the repost hits", fill=_fill(img, "black"), font=font(max(8, int(strip * 0.55))))
        return out
    if kind == "signature":
        out = img.copy()
        draw = ImageDraw.Draw(out)
        x = w * 0.04 if params["corner"] in ("tl", "bl") else w * 0.7
        y = h * 0.04 if params["corner"] in ("tl", "tr") else h * 0.9
        draw.text((x, y), "~sig", fill=_fill(img, params["colour"]), font=font(max(8, int(h * 0.06))))
        return out
    if kind == "greyscale":
        grey = img.convert("L").convert("RGB")
        if img.mode == "RGBA":
            grey.putalpha(img.getchannel("A"))
        return grey
    if kind == "blur_upscale":
        blurred = img.filter(ImageFilter.GaussianBlur(params["radius"]))
        return blurred.resize(transformed_size(kind, params, w, h), Image.Resampling.BICUBIC)
    if kind == "jpeg_low":
        return img  # the damage is the encoding (quality 10)
    if kind == "combined":
        shifted = apply(
            "color_shift", {"hue": params["hue"], "brightness": 1.0, "contrast": 1.0}, img.crop(_crop_box(params, w, h))
        )
        return shifted.resize(transformed_size(kind, params, w, h), Image.Resampling.LANCZOS)
    raise ValueError(f"unknown duplicate kind {kind!r}")
