"""ORB keypoints of a picture, found once when its file is inspected and kept in the catalog
(``image_hashes.keypoint_xy``, ``image_hashes.keypoints``): :mod:`curation.dedupe.keypoints`
matches them to find crops, rescaled crops and slightly turned reposts."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

KEYPOINT_SIDE = 256  # long side (pixels) of the grey picture keypoints are found on, and of their frame
MAX_KEYPOINTS = 128
DESCRIPTOR_BYTES = 32  # ORB's 256-bit descriptor
_orb = None


@dataclass(frozen=True)
class Keypoints:
    """A file's keypoints: ``xy`` (n, 2) float32 in the keypoint frame (the picture scaled to a
    long side of ``KEYPOINT_SIDE``), ``descriptors`` (n, 32) uint8."""

    xy: np.ndarray
    descriptors: np.ndarray

    def pack(self) -> tuple[bytes, bytes]:
        """(xy as float16 bytes, descriptor bytes): the stored columns."""
        return self.xy.astype(np.float16).tobytes(), np.ascontiguousarray(self.descriptors, dtype=np.uint8).tobytes()

    @classmethod
    def none(cls) -> Keypoints:
        """No keypoints: a flat picture's, or one whose only shapes touch its edges."""
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8))

    @classmethod
    def unpack(cls, xy: bytes | None, descriptors: bytes | None) -> Keypoints | None:
        if not xy or not descriptors:
            return None
        return cls(
            np.frombuffer(xy, dtype=np.float16).astype(np.float32).reshape(-1, 2),
            np.frombuffer(descriptors, dtype=np.uint8).reshape(-1, DESCRIPTOR_BYTES),
        )


def find_keypoints(grey: Image.Image) -> Keypoints | None:
    """ORB keypoints of a grey picture (mode L, any size; reduced here to ``KEYPOINT_SIDE`` on
    the long side), None when it has fewer than 4 (a flat picture)."""
    global _orb
    if _orb is None:
        cv2.setNumThreads(1)  # workers run one file each; OpenCV's own threads would fight them
        _orb = cv2.ORB_create(nfeatures=MAX_KEYPOINTS, edgeThreshold=15, patchSize=15, fastThreshold=10)
    if max(grey.size) > KEYPOINT_SIDE:
        factor = max(grey.size) // KEYPOINT_SIDE
        if factor >= 2:
            grey = grey.reduce(factor)  # cheap whole-pixel averaging first, the exact size after
        scale = KEYPOINT_SIDE / max(grey.size)
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.Resampling.BOX)
    frame = KEYPOINT_SIDE / max(grey.size)  # small files: their pixels scaled up to the frame
    found, descriptors = _orb.detectAndCompute(np.asarray(grey), None)
    if descriptors is None or len(found) < 4:
        return None
    xy = np.array([k.pt for k in found], dtype=np.float32) * frame
    return Keypoints(xy, descriptors)
