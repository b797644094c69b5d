"""Files read again: the few pixel checks that compare two pictures at more than thumbnail size.

The catalog keeps a 64-pixel grey thumbnail of every file; a check that needs more reads the
file once more, only for the pairs whose thumbnails could not refuse it. A :class:`GreyFile`
stands for one file in a batch of such checks and reads it at most once in each form it is
asked for (grey in the keypoint frame, in colour there, or grey at native size).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ..images.hashing import WIDE_MODES, flatten_alpha, has_alpha_channel, keypoint_colour, keypoint_grey
from ..images.keypoints import KEYPOINT_SIDE

log = logging.getLogger(__name__)
UNREAD = object()  # a form not asked for yet
READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class GreyFile:
    """One file's grey picture (alpha flattened on ``background``), read when a check first asks:
    in its keypoint frame (calling it: (h, w) float32, ``KEYPOINT_SIDE`` on the long side, as
    :func:`~curation.images.hashing.keypoint_grey` makes it) or at its native size
    (:meth:`native`: (height, width) uint8, a quarter of float32's memory: a batch keeps it).
    Either is None when the file no longer reads.
    ``open_image`` gives the picture, opened but not loaded (a JPEG can then be decoded small)."""

    def __init__(self, open_image: Callable[[], Image.Image] | None, background: tuple[int, int, int], name: str = "") -> None:
        self._open, self._background, self._name = open_image, background, name
        self._frame, self._native, self._colour = UNREAD, UNREAD, UNREAD
        self.missed = 0  # asks answered None (no path, or the file no longer reads), each ask counted

    @classmethod
    def at(cls, path: str | Path | None, background: tuple[int, int, int]) -> GreyFile:
        """The file at ``path``; with None (a file the catalog has no path for) every read gives None."""
        return cls(None if path is None else lambda: Image.open(path), background, str(path))

    @property
    def reads(self) -> int:
        """How many forms of the file were asked for (0 to 3)."""
        return (self._frame is not UNREAD) + (self._native is not UNREAD) + (self._colour is not UNREAD)

    def __call__(self) -> np.ndarray | None:
        if self._frame is UNREAD:
            self._frame = self._read(_keypoint_frame)
        self.missed += self._frame is None
        return self._frame

    def colour(self) -> np.ndarray | None:
        """(h, w, 3) float32: the picture in colour in its keypoint frame (alpha flattened), on
        the grid of the grey frame."""
        if self._colour is UNREAD:
            self._colour = self._read(_keypoint_colour)
        self.missed += self._colour is None
        return self._colour

    def native(self) -> np.ndarray | None:
        if self._native is UNREAD:
            self._native = self._read(self._native_grey)
        self.missed += self._native is None
        return self._native

    def _read(self, convert: Callable[[Image.Image, tuple[int, int, int]], np.ndarray]) -> np.ndarray | None:
        if self._open is None:
            return None
        try:
            with self._open() as img:
                return convert(img, self._background)
        except READ_ERRORS as exc:
            log.warning("%s: not compared again (%s)", self._name or "a picture", exc)
            return None

    @staticmethod
    def _native_grey(img: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
        img.load()
        return np.asarray(flatten_alpha(img, background).convert("L"), dtype=np.uint8)


def _keypoint_frame(img: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """(h, w) float32: an opened picture's grey in its keypoint frame; a JPEG is decoded small."""
    return np.asarray(keypoint_grey(_loaded(img), background), dtype=np.float32)


def _keypoint_colour(img: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """(h, w, 3) float32: an opened picture in colour in its keypoint frame, on the grey frame's grid."""
    return np.asarray(keypoint_colour(_loaded(img), background), dtype=np.float32)


def _loaded(img: Image.Image) -> Image.Image:
    """An opened picture decoded (a JPEG small, near the keypoint frame), in a mode the images
    stage works in (palettes and CMYK converted as it converts them)."""
    if img.format == "JPEG":
        img.draft(None, (KEYPOINT_SIDE, KEYPOINT_SIDE))
    img.load()
    if img.mode not in ("L", "RGB", "RGBA", *WIDE_MODES):
        img = img.convert("RGBA" if has_alpha_channel(img) else "RGB")
    return img


def read_keypoint_grey(path: str | Path, background: tuple[int, int, int]) -> np.ndarray | None:
    """(h, w) float32: a file's grey picture in its keypoint frame, or None when it no longer reads."""
    return GreyFile.at(path, background)()
