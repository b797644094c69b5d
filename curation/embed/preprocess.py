"""Turning one image file into a model's input tensor. Pure Pillow/numpy; runs in worker processes.

Two ways to make a picture square: ``pad`` (scale the longest side to S, then pad the short
side with the background colour, so nothing is cropped away: duplicates that differ by a crop
or a border keep their whole content) and ``crop`` (the usual ImageNet/CLIP recipe: scale the
shortest side to S, then take the centre).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


@dataclass(frozen=True)
class Preprocess:
    """How to make a (3, S, S) float32 tensor from a file; picklable for worker processes."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    mode: str = "pad"  # pad | crop
    background: tuple[int, int, int] = (255, 255, 255)
    scales: tuple[int, ...] = ()  # further sizes made from the same decoded picture (``[embed] scales``)

    def __call__(self, path: str | Path) -> np.ndarray:
        """(3, size, size) float32, normalised with mean/std, channels RGB."""
        return self._array(self._decode(path, self.size)[0], self.size)

    def inputs(self, path: str | Path) -> tuple[np.ndarray, ...]:
        """One (3, s, s) float32 array per size: ``size`` first (exactly what :meth:`__call__`
        makes, so a recipe's plain vectors are a plain run's), then each of ``scales``. A JPEG
        that the main size decoded at a reduced scale is decoded again for the larger sizes."""
        picture, reduced = self._decode(path, self.size)
        arrays = [self._array(picture, self.size)]
        if self.scales:
            larger = self._decode(path, max(self.scales))[0] if reduced else picture
            arrays += [self._array(larger, size) for size in self.scales]
        return tuple(arrays)

    def _decode(self, path: str | Path, size: int) -> tuple[Image.Image, bool]:
        """(the picture in RGB, whether the JPEG decoder reduced it to reach ``size``)."""
        with Image.open(path) as img:
            full = img.size
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            return to_rgb(img, self.background), img.size != full

    def _array(self, picture: Image.Image, size: int) -> np.ndarray:
        square = pad_square(picture, size, self.background) if self.mode == "pad" else crop_square(picture, size)
        array = np.asarray(square, dtype=np.float32) / 255.0
        array = (array - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(array.transpose(2, 0, 1))


def to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """The first frame in RGB, any transparency composited onto ``background``."""
    img.seek(0)
    img = ImageOps.exif_transpose(img) if img.format == "JPEG" else img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB")


def pad_square(img: Image.Image, size: int, background: tuple[int, int, int]) -> Image.Image:
    """Longest side scaled to ``size``, centred on a ``size`` x ``size`` background."""
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = img.resize((nw, nh), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (size, size), background)
    canvas.paste(resized, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def crop_square(img: Image.Image, size: int) -> Image.Image:
    """Shortest side scaled to ``size``, then the centre ``size`` x ``size``."""
    return ImageOps.fit(img, (size, size), Image.Resampling.BICUBIC)
