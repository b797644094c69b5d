"""Stage 3, images: locate, validate and hash each selected post's file."""

from .hashing import hamming, perceptual_hashes, pixel_digest
from .inspect import Inspection, inspect_file
from .stage import ImagesReport, run_images

__all__ = ["ImagesReport", "Inspection", "hamming", "inspect_file", "perceptual_hashes", "pixel_digest", "run_images"]
