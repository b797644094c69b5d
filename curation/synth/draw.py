"""Render a :class:`~curation.synth.scene.Scene` to pixels with Pillow.

Pure: the same scene and style give the same pixels. Every visible tag has a drawing here:
glyphs for object tags, fills for backgrounds, heads and bodies for figures, frames for
borders; the artist's :class:`~curation.synth.vocab.ArtistStyle` sets line width, outline
colour, saturation, hue, noise and blur.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from .fonts import font as _font
from .scene import Figure, Glyph, Scene
from .transforms import overlay_watermark
from .vocab import COLOURS, EYE_COLOURS, HAIR_COLOURS, OBJECT_SIZES, SPECIES, ArtistStyle

RGB = tuple[int, int, int]
SKIN: RGB = (252, 222, 196)
CLOTHES: tuple[RGB, ...] = ((60, 60, 110), (170, 40, 60), (40, 110, 80), (230, 230, 235), (90, 60, 140))


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Outline points of a polygonal shape of radius ``r`` centred on (cx, cy), rotated by ``angle``."""
    if shape == "star":
        pts = [(r if i % 2 == 0 else r * 0.45, math.pi / 2 + i * math.pi / 5) for i in range(10)]
    elif shape == "triangle":
        pts = [(r, math.pi / 2 + i * 2 * math.pi / 3) for i in range(3)]
    elif shape == "square":
        pts = [(r, math.pi / 4 + i * math.pi / 2) for i in range(4)]
    elif shape == "diamond":
        pts = [(r if i % 2 == 0 else r * 0.6, math.pi / 2 + i * math.pi / 2) for i in range(4)]
    elif shape == "hexagon":
        pts = [(r, i * math.pi / 3) for i in range(6)]
    elif shape == "cross":
        w = r * 0.35
        xy = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w)]
        pts = [(math.hypot(x, y), math.atan2(y, x)) for x, y in xy]
    elif shape == "arrow":
        xy = [
            (-r, -0.25 * r),
            (0.1 * r, -0.25 * r),
            (0.1 * r, -0.7 * r),
            (r, 0),
            (0.1 * r, 0.7 * r),
            (0.1 * r, 0.25 * r),
            (-r, 0.25 * r),
        ]
        pts = [(math.hypot(x, y), math.atan2(y, x)) for x, y in xy]
    elif shape == "bolt":
        xy = [
            (-0.2 * r, -r),
            (0.5 * r, -r),
            (0.1 * r, -0.15 * r),
            (0.55 * r, -0.15 * r),
            (-0.35 * r, r),
            (-0.05 * r, 0.1 * r),
            (-0.5 * r, 0.1 * r),
        ]
        pts = [(math.hypot(x, y), math.atan2(y, x)) for x, y in xy]
    elif shape == "heart":
        pts = []
        for i in range(24):
            t = 2 * math.pi * i / 24
            x = 16 * math.sin(t) ** 3
            y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
            pts.append((math.hypot(x, y) * r / 17, math.atan2(y, x)))
    else:
        raise ValueError(f"not a polygon shape: {shape}")
    a = math.radians(angle)
    return [(cx + d * math.cos(t + a), cy - d * math.sin(t + a)) for d, t in pts]


def _shape_mask(shape: str, size: int, r: float, angle: float) -> Image.Image:
    """An L mask (size x size) of a filled shape centred in the tile."""
    mask = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask)
    c = size / 2
    if shape == "circle":
        d.ellipse([c - r, c - r, c + r, c + r], fill=255)
    elif shape == "ring":
        d.ellipse([c - r, c - r, c + r, c + r], fill=255)
        d.ellipse([c - r * 0.55, c - r * 0.55, c + r * 0.55, c + r * 0.55], fill=0)
    elif shape == "crescent":
        d.ellipse([c - r, c - r, c + r, c + r], fill=255)
        off = r * 0.45
        a = math.radians(angle)
        ox, oy = off * math.cos(a), -off * math.sin(a)
        d.ellipse([c - r + ox, c - r + oy, c + r + ox, c + r + oy], fill=0)
    else:
        d.polygon(_polygon(shape, c, c, r, angle), fill=255)
    return mask


def _glyph_tile(glyph: Glyph, canvas_size: tuple[int, int]) -> tuple[Image.Image, int, int, float]:
    """(the glyph's filled shape as an L mask tile, its left, its top, its radius) on a canvas."""
    r = OBJECT_SIZES[glyph.size] * min(canvas_size) / 2
    x0, y0, x1, _ = glyph_box(glyph, canvas_size)
    return _shape_mask(glyph.shape, x1 - x0, r, glyph.angle), x0, y0, r


def _outline_ring(mask: Image.Image, line_width: int) -> Image.Image:
    """The band ``line_width`` wide inside a filled mask: what an outline glyph paints."""
    inner = mask.filter(ImageFilter.MinFilter(2 * line_width + 1))
    return Image.fromarray(np.clip(np.asarray(mask, np.int16) - np.asarray(inner, np.int16), 0, 255).astype(np.uint8))


def glyph_box(glyph: Glyph, canvas_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) of the tile :func:`glyph_paint_mask` paints a glyph in."""
    w, h = canvas_size
    size = int(OBJECT_SIZES[glyph.size] * min(w, h) + 6)
    x0, y0 = int(glyph.x * w - size / 2), int(glyph.y * h - size / 2)
    return x0, y0, x0 + size, y0 + size


def glyph_paint_mask(glyph: Glyph, style: ArtistStyle, canvas_size: tuple[int, int]) -> tuple[Image.Image, int, int]:
    """(the L mask of the pixels a glyph paints, its left, its top) on a canvas of ``canvas_size``."""
    mask, x0, y0, _ = _glyph_tile(glyph, canvas_size)
    if glyph.style == "outline":
        scale = min(canvas_size) / 256
        mask = _outline_ring(mask, max(2, int(round(style.line_width * scale))))
    return mask, x0, y0


def _draw_glyph(canvas: Image.Image, glyph: Glyph, style: ArtistStyle, scale: float) -> None:
    mask, x0, y0, _ = _glyph_tile(glyph, canvas.size)
    size = mask.size[0]
    colour = COLOURS[glyph.colour]
    edge = mask.filter(ImageFilter.MaxFilter(3)) if style.outline else None
    lw = max(2, int(round(style.line_width * scale)))
    if glyph.style == "outline":
        canvas.paste(colour + (255,), (x0, y0), _outline_ring(mask, lw))
        return
    if edge is not None:
        outline_mask = edge.filter(ImageFilter.MaxFilter(2 * max(1, lw // 2) + 1))
        canvas.paste(style.outline + (255,), (x0, y0), outline_mask)
    if glyph.style == "striped":
        stripes = np.zeros((size, size), np.uint8)
        period = max(4, size // 6)
        idx = np.add.outer(np.arange(size), np.arange(size)) % period
        stripes[idx < period // 2] = 255
        light = tuple(int(v + (255 - v) * 0.75) for v in colour)
        canvas.paste(light + (255,), (x0, y0), mask)
        canvas.paste(colour + (255,), (x0, y0), Image.fromarray(np.minimum(np.asarray(mask), stripes)))
    else:
        canvas.paste(colour + (255,), (x0, y0), mask)


def _background(scene: Scene, rng: np.random.Generator) -> Image.Image:
    w, h = scene.width, scene.height
    kind = scene.background
    if scene.transparent:
        return Image.new("RGBA", (w, h), (0, 0, 0, 0))
    if kind.endswith("_background") and kind.split("_")[0] in ("white", "grey", "black", "pink", "blue", "yellow"):
        return Image.new("RGBA", (w, h), COLOURS[kind.split("_")[0]] + (255,))
    ys = np.linspace(0.0, 1.0, h)[:, None, None]
    if kind in ("gradient_background", "sky", "night_sky"):
        top, bottom = {
            "sky": ((70, 140, 235), (190, 225, 250)),
            "night_sky": ((8, 10, 40), (40, 40, 90)),
        }.get(kind, (tuple(int(v) for v in rng.integers(60, 255, 3)), tuple(int(v) for v in rng.integers(60, 255, 3))))
        grad = np.asarray(top, np.float64) * (1 - ys) + np.asarray(bottom, np.float64) * ys
        arr = np.broadcast_to(grad, (h, w, 3)).astype(np.uint8)
        img = Image.fromarray(arr, "RGB").convert("RGBA")
        d = ImageDraw.Draw(img)
        if kind == "sky":
            for _ in range(3):
                cx, cy, cr = rng.uniform(0, w), rng.uniform(0, h * 0.5), rng.uniform(0.06, 0.12) * w
                for dx in (-0.8, 0.0, 0.8):
                    d.ellipse([cx + dx * cr - cr, cy - cr * 0.6, cx + dx * cr + cr, cy + cr * 0.6], fill=(250, 250, 252, 255))
        elif kind == "night_sky":
            for _ in range(40):
                sx, sy = rng.uniform(0, w), rng.uniform(0, h)
                d.point([(sx, sy), (sx + 1, sy)], fill=(255, 255, 220, 255))
        return img
    a = tuple(int(v) for v in rng.integers(150, 256, 3))
    b = tuple(int(v) for v in rng.integers(60, 200, 3))
    yy, xx = np.mgrid[0:h, 0:w]
    period = max(8, min(w, h) // 10)
    if kind == "striped_background":
        on = ((xx + yy) // period) % 2 == 0
    elif kind == "checkered_background":
        on = ((xx // period) + (yy // period)) % 2 == 0
    elif kind == "grid_background":
        on = ~((xx % period < 2) | (yy % period < 2))
    elif kind == "polka_dot_background":
        on = ((xx % period - period / 2) ** 2 + (yy % period - period / 2) ** 2) > (period / 4) ** 2
    else:
        raise ValueError(f"unknown background {kind!r}")
    arr = np.where(on[..., None], np.asarray(a, np.uint8), np.asarray(b, np.uint8)).astype(np.uint8)
    return Image.fromarray(arr, "RGB").convert("RGBA")


def figure_box(fig: Figure, canvas_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) that holds everything :func:`draw_figure` paints for ``fig``: ears,
    hat and halo above the head, hair and body below it."""
    w, h = canvas_size
    r = fig.scale * min(w, h)
    cx, cy = fig.x * w, fig.y * h
    return cx - r * 1.5, cy - r * 2.4, cx + r * 1.5, min(h + r, cy + r * 4.2) + 1


def eye_boxes(fig: Figure, canvas_size: tuple[int, int]) -> list[list[float]]:
    """The bounding boxes [x0, y0, x1, y1] of a figure's two eyes on a canvas of ``canvas_size``."""
    w, h = canvas_size
    r = fig.scale * min(w, h)
    cx, cy = fig.x * w, fig.y * h
    boxes = []
    for sgn in (-1, 1):
        ex, ey, er = cx + sgn * r * 0.38, cy + r * 0.05, r * 0.2
        boxes.append([ex - er, ey - er * 1.2, ex + er, ey + er * 1.2])
    return boxes


def draw_figure(canvas: Image.Image, fig: Figure, style: ArtistStyle, scale: float, index: int) -> None:
    w, h = canvas.size
    d = ImageDraw.Draw(canvas)
    short = min(w, h)
    r = fig.scale * short
    cx, cy = fig.x * w, fig.y * h
    lw = max(1, int(round(style.line_width * scale)))
    outline = style.outline + (255,) if style.outline else None
    hair = HAIR_COLOURS[fig.hair] + (255,)
    clothes = CLOTHES[index % len(CLOTHES)] + (255,)
    # Body: clothing coverage shows the rating (g fully clothed .. e bare).
    body_top, body_bottom = cy + r * 0.9, min(h + r, cy + r * 4.2)
    skin = hair if fig.species else SKIN + (255,)
    if fig.sex in ("girl", "female"):
        d.polygon(
            [(cx, body_top), (cx - r * 1.4, body_bottom), (cx + r * 1.4, body_bottom)], fill=skin, outline=outline, width=lw
        )
        clothed_to = body_top + (body_bottom - body_top) * fig.coverage
        if fig.coverage > 0:
            t = (clothed_to - body_top) / max(1.0, body_bottom - body_top)
            d.polygon([(cx, body_top), (cx - r * 1.4 * t, clothed_to), (cx + r * 1.4 * t, clothed_to)], fill=clothes)
    else:
        d.rectangle([cx - r * 0.9, body_top, cx + r * 0.9, body_bottom], fill=skin, outline=outline, width=lw)
        if fig.coverage > 0:
            d.rectangle([cx - r * 0.9, body_top, cx + r * 0.9, body_top + (body_bottom - body_top) * fig.coverage], fill=clothes)
    # Hair behind the head, long or short.
    length = {"short_hair": 0.2, "long_hair": 1.6, "very_long_hair": 2.6, "absurdly_long_hair": 3.8}[fig.hair_length]
    if not fig.species and length > 0.5:
        d.rounded_rectangle([cx - r * 1.2, cy - r * 0.3, cx + r * 1.2, cy + r * length], radius=int(r * 0.5), fill=hair)
    # Ears and species marks (e621) or animal-ear accessories.
    ear = SPECIES[fig.species][0] if fig.species else None
    ear_colour = hair
    if ear in ("pointed", "triangle") or "cat_ears" in fig.accessories or "fox_ears" in fig.accessories:
        tall = 1.9 if ear == "pointed" or "fox_ears" in fig.accessories else 1.45
        for sgn in (-1, 1):
            d.polygon(
                [(cx + sgn * r * 0.9, cy - r * 0.3), (cx + sgn * r * 0.25, cy - r * 0.8), (cx + sgn * r * 0.85, cy - r * tall)],
                fill=ear_colour,
                outline=outline,
                width=lw,
            )
    elif ear == "long":
        for sgn in (-1, 1):
            d.ellipse(
                [cx + sgn * r * 0.45 - r * 0.22, cy - r * 2.3, cx + sgn * r * 0.45 + r * 0.22, cy - r * 0.6],
                fill=ear_colour,
                outline=outline,
                width=lw,
            )
    elif ear == "floppy":
        for sgn in (-1, 1):
            d.ellipse(
                [cx + sgn * r * 1.0 - r * 0.3, cy - r * 0.5, cx + sgn * r * 1.0 + r * 0.3, cy + r * 0.6], fill=(90, 60, 30, 255)
            )
    elif ear == "round":
        for sgn in (-1, 1):
            d.ellipse([cx + sgn * r * 0.75 - r * 0.3, cy - r * 1.1, cx + sgn * r * 0.75 + r * 0.3, cy - r * 0.5], fill=ear_colour)
        d.ellipse([cx - r * 1.35, cy - r * 1.2, cx + r * 1.35, cy + r * 1.2], fill=(160, 100, 40, 255))
    elif ear == "horns" or "horns" in fig.accessories:
        for sgn in (-1, 1):
            d.polygon(
                [(cx + sgn * r * 0.3, cy - r * 0.8), (cx + sgn * r * 0.6, cy - r * 0.7), (cx + sgn * r * 0.65, cy - r * 1.6)],
                fill=(150, 150, 150, 255),
                outline=outline,
                width=lw,
            )
    elif ear == "crest":
        d.polygon(
            [(cx - r * 0.2, cy - r * 0.9), (cx + r * 0.2, cy - r * 0.9), (cx + r * 0.5, cy - r * 1.7)], fill=(230, 60, 60, 255)
        )
    # Head.
    face = HAIR_COLOURS[fig.hair] + (255,) if fig.species else SKIN + (255,)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=face, outline=outline, width=lw)
    if fig.species:
        d.ellipse([cx - r * 0.45, cy + r * 0.05, cx + r * 0.45, cy + r * 0.75], fill=(245, 240, 230, 255))
    else:
        d.chord([cx - r * 1.05, cy - r * 1.1, cx + r * 1.05, cy + r * 0.4], 180, 360, fill=hair)
    # Eyes.
    eye = EYE_COLOURS[fig.eyes] + (255,)
    for box in eye_boxes(fig, canvas.size):
        d.ellipse(box, fill=eye)
        ex, ey, er = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2
        d.ellipse([ex - er * 0.4, ey - er * 0.5, ex + er * 0.4, ey + er * 0.5], fill=(15, 15, 15, 255))
    # Expressions.
    if "blush" in fig.expressions:
        for sgn in (-1, 1):
            d.ellipse(
                [cx + sgn * r * 0.6 - r * 0.18, cy + r * 0.3, cx + sgn * r * 0.6 + r * 0.18, cy + r * 0.45],
                fill=(250, 120, 140, 255),
            )
    if "open_mouth" in fig.expressions:
        d.ellipse([cx - r * 0.16, cy + r * 0.45, cx + r * 0.16, cy + r * 0.75], fill=(150, 30, 40, 255))
    elif "smile" in fig.expressions:
        d.arc([cx - r * 0.35, cy + r * 0.2, cx + r * 0.35, cy + r * 0.65], 20, 160, fill=(120, 30, 30, 255), width=max(1, lw))
    else:
        d.line([cx - r * 0.2, cy + r * 0.55, cx + r * 0.2, cy + r * 0.55], fill=(120, 30, 30, 255), width=max(1, lw))
    # Accessories.
    if "hat" in fig.accessories:
        d.rectangle([cx - r * 1.3, cy - r * 0.95, cx + r * 1.3, cy - r * 0.75], fill=(40, 40, 50, 255))
        d.rectangle([cx - r * 0.75, cy - r * 1.8, cx + r * 0.75, cy - r * 0.8], fill=(40, 40, 50, 255))
    if "glasses" in fig.accessories:
        for sgn in (-1, 1):
            ex = cx + sgn * r * 0.38
            d.ellipse([ex - r * 0.3, cy - r * 0.25, ex + r * 0.3, cy + r * 0.35], outline=(30, 30, 30, 255), width=max(2, lw))
        d.line([cx - r * 0.1, cy, cx + r * 0.1, cy], fill=(30, 30, 30, 255), width=max(2, lw))
    if "hair_bow" in fig.accessories:
        bx, by = cx + r * 0.75, cy - r * 0.8
        d.polygon([(bx, by), (bx - r * 0.45, by - r * 0.3), (bx - r * 0.45, by + r * 0.3)], fill=(230, 30, 60, 255))
        d.polygon([(bx, by), (bx + r * 0.45, by - r * 0.3), (bx + r * 0.45, by + r * 0.3)], fill=(230, 30, 60, 255))
    if "halo" in fig.accessories:
        d.ellipse([cx - r * 0.7, cy - r * 1.75, cx + r * 0.7, cy - r * 1.35], outline=(250, 220, 60, 255), width=max(3, lw + 1))


def _draw_text(canvas: Image.Image, text: str, box: tuple[float, float, float, float], colour: RGB, frame: bool) -> None:
    d = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = box
    if frame:
        d.rectangle(box, fill=(255, 255, 255, 255), outline=(0, 0, 0, 255), width=2)
    d.text((x0 + 4, y0 + 2), text, fill=colour + (255,), font=_font(int((y1 - y0) * 0.7)))


def render(scene: Scene, style: ArtistStyle, frame: int = 0) -> Image.Image:
    """Draw one frame of a scene: RGBA when the scene is transparent, RGB otherwise.

    Returns an image of exactly (scene.width, scene.height).
    """
    rng = np.random.default_rng(list(scene.seed) + [7])
    w, h = scene.width, scene.height
    scale = min(w, h) / 256
    canvas = _background(scene, rng)
    d = ImageDraw.Draw(canvas)
    if scene.motion_lines:
        for i in range(7):
            y = h * (0.15 + 0.1 * i)
            d.line([w * 0.05, y, w * 0.4, y + h * 0.02], fill=(60, 60, 60, 255), width=max(1, int(2 * scale)))
    shift = 0.04 * frame
    for glyph in scene.glyphs:
        moved = Glyph(
            glyph.tag,
            glyph.shape,
            glyph.colour,
            glyph.style,
            glyph.size,
            (glyph.x + shift) % 1.0,
            glyph.y,
            glyph.angle + 15 * frame,
        )
        _draw_glyph(canvas, moved, style, scale)
    for i, fig in enumerate(scene.figures):
        draw_figure(canvas, fig, style, scale, i)
    if scene.sparkle:
        for _ in range(6):
            sx, sy, sr = rng.uniform(0, w), rng.uniform(0, h), min(w, h) * 0.035
            d.polygon([(sx, sy - sr), (sx + sr * 0.25, sy), (sx, sy + sr), (sx - sr * 0.25, sy)], fill=(255, 250, 200, 255))
            d.polygon([(sx - sr, sy), (sx, sy + sr * 0.25), (sx + sr, sy), (sx, sy - sr * 0.25)], fill=(255, 250, 200, 255))
    draw_front(canvas, scene, style)
    if scene.watermark:
        canvas = overlay_watermark(canvas, "br", 0.6)
    return _apply_style(canvas, scene, style, rng)


def front_boxes(scene: Scene, canvas_size: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """Boxes (x0, y0, x1, y1) that hold everything :func:`draw_front` paints."""
    w, h = canvas_size
    boxes = []
    if scene.speech_bubble:
        boxes.append((w * 0.55 - 2, h * 0.06 - 2, w * 0.95 + 2, h * 0.30 + 2))
    if scene.text:
        boxes.append((w * 0.05 - 2, h * 0.82 - 2, w * 0.7 + 2, h * 0.94 + 2))
    if scene.border:
        bw = max(3, int(min(w, h) * 0.04)) + 1
        boxes += [(0, 0, w, bw), (0, h - bw, w, h), (0, 0, bw, h), (w - bw, 0, w, h)]
    if scene.signature:
        boxes.append((w * 0.72 - 2, h * 0.93 - 2, w, h))
    return boxes


def draw_front(canvas: Image.Image, scene: Scene, style: ArtistStyle) -> None:
    """What covers the drawing: the speech bubble, the caption box, the border and the signature."""
    w, h = canvas.size
    d = ImageDraw.Draw(canvas)
    if scene.speech_bubble:
        bx, by = w * 0.55, h * 0.06
        d.ellipse([bx, by, bx + w * 0.4, by + h * 0.16], fill=(255, 255, 255, 255), outline=(0, 0, 0, 255), width=2)
        d.polygon(
            [(bx + w * 0.1, by + h * 0.14), (bx + w * 0.05, by + h * 0.24), (bx + w * 0.16, by + h * 0.15)],
            fill=(255, 255, 255, 255),
        )
        d.text((bx + w * 0.08, by + h * 0.04), "!?", fill=(0, 0, 0, 255), font=_font(int(h * 0.08)))
    if scene.text:
        _draw_text(canvas, scene.text, (w * 0.05, h * 0.82, w * 0.7, h * 0.94), (20, 20, 20), frame=True)
    if scene.border:
        bw = max(3, int(min(w, h) * 0.04))
        d.rectangle([0, 0, w - 1, h - 1], outline=COLOURS[scene.border] + (255,), width=bw)
    if scene.signature:
        colour = style.outline or (30, 30, 30)
        d.text((w * 0.72, h * 0.93), scene.artist[:10], fill=colour + (255,), font=_font(int(h * 0.05)))


def _apply_style(canvas: Image.Image, scene: Scene, style: ArtistStyle, rng: np.random.Generator) -> Image.Image:
    alpha = canvas.getchannel("A") if scene.transparent else None
    img = canvas.convert("RGB")
    if style.hue_shift:
        hsv = np.asarray(img.convert("HSV"), np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(style.hue_shift * 255 / 360)) % 256
        img = Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
    if style.saturation != 1.0:
        img = ImageEnhance.Color(img).enhance(style.saturation)
    if style.noise:
        arr = np.asarray(img, np.float32) + rng.normal(0.0, style.noise, (img.height, img.width, 1)).astype(np.float32)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if style.blur:
        img = img.filter(ImageFilter.GaussianBlur(style.blur))
    if scene.blurry:
        img = img.filter(ImageFilter.GaussianBlur(max(1.5, min(img.size) / 110)))
    if scene.monochrome:
        grey = img.convert("L")
        if scene.greyscale:
            img = grey.convert("RGB")
        else:  # a single tint, as in sepia or blue monochrome
            tint = np.asarray((112, 66, 20) if rng.random() < 0.5 else (30, 60, 140), np.float32)
            g = np.asarray(grey, np.float32)[..., None] / 255.0
            img = Image.fromarray((g * 255 + (1 - g) * tint * 0.6).clip(0, 255).astype(np.uint8), "RGB")
    if alpha is not None:
        img = img.convert("RGBA")
        img.putalpha(alpha)
    return img
