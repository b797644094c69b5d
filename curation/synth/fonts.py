"""Pillow's bundled font at a given pixel size, cached per process."""

from __future__ import annotations

from functools import lru_cache

from PIL import ImageFont


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=max(8, size))
    except (TypeError, OSError, ImportError):  # Pillow built without FreeType: the bitmap font
        return ImageFont.load_default()
