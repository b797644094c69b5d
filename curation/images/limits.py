"""The decompression-bomb guard, ``[images] max_pixels``, in every process that opens files.

Pillow keeps its limit in a module global (``Image.MAX_IMAGE_PIXELS``), so a worker process
starts with Pillow's default, not the workspace's setting: a file the images stage accepted
under a raised limit was refused later by the dedupe or embedding workers. The parent records
the limit in the environment, which spawned workers inherit, and each worker applies it when
it starts.
"""

from __future__ import annotations

import os

from PIL import Image

ENV_MAX_PIXELS = "CURATE_MAX_PIXELS"


def use_pixel_limit(max_pixels: int) -> None:
    """Apply ``max_pixels`` here and in every worker process started from now on."""
    os.environ[ENV_MAX_PIXELS] = str(int(max_pixels))
    Image.MAX_IMAGE_PIXELS = int(max_pixels)


def inherit_pixel_limit(_worker_id: int | None = None) -> None:
    """In a worker: apply the limit its parent set (a torch DataLoader passes a worker id)."""
    if limit := os.environ.get(ENV_MAX_PIXELS):
        Image.MAX_IMAGE_PIXELS = int(limit)


def pixel_limit() -> int | None:
    """The limit Pillow applies in this process."""
    return Image.MAX_IMAGE_PIXELS
