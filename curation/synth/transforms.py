"""Image transforms that turn an original into a planted duplicate of a named kind.

Each takes and returns a PIL image; parameters are plain dicts stored in the truth files so a
duplicate can be explained (``{"scale": 0.62}``). Dimension arithmetic lives in
:func:`transformed_size` so metadata agrees with pixels even when no image is written.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

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
WATERMARK_TEXT = "synthboard"


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
    raise ValueError(f"unknown duplicate kind {kind!r}")


def transformed_size(kind: str, params: dict, width: int, height: int) -> tuple[int, int]:
    """The (width, height) a duplicate of ``kind`` has, given its source's."""
    if kind == "resize":
        return max(8, round(width * params["scale"])), max(8, round(height * params["scale"]))
    if kind == "crop":
        left, top = round(width * params["left"]), round(height * params["top"])
        right, bottom = width - round(width * params["right"]), height - round(height * params["bottom"])
        return right - left, bottom - top
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
        w, h = img.size
        box = (
            round(w * params["left"]),
            round(h * params["top"]),
            w - round(w * params["right"]),
            h - round(h * params["bottom"]),
        )
        return img.crop(box)
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
    raise ValueError(f"unknown duplicate kind {kind!r}")
