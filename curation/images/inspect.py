"""Validate one image file and hash it, in a worker process.

``inspect_file`` never raises for a bad file: every outcome is a status with a reason, so a
truncated, empty, misnamed or hostile file ends up in the ``images`` table, not in a crash.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from .hashing import (
    HASH_SIDE,
    WIDE_MODES,
    as_mode,
    has_alpha_channel,
    has_real_alpha,
    keypoint_columns,
    picture_hashes,
    pixel_digest,
)

log = logging.getLogger(__name__)


@dataclass
class Inspection:
    """What the images stage records for one file (hashes only when it decodes)."""

    status: str  # ok | missing | corrupt | bomb
    error: str = ""
    file_md5: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None
    has_alpha: bool | None = None
    frames: int | None = None
    pixel_sha256: str | None = None
    phash: int | None = None
    dhash: int | None = None
    phash_mirror: int | None = None
    dhash_mirror: int | None = None
    information: float | None = None
    bg_phash: int | None = None  # with the background turned white (transparent or flat background)
    bg_dhash: int | None = None
    bg_information: float | None = None
    bg_black_phash: int | None = None  # transparent files: flattened on black, then whitened
    bg_black_dhash: int | None = None
    thumb: bytes | None = None  # grey thumbnail for aligning crops and padded copies (hashing.thumbnail)
    thumb_alpha: bytes | None = None  # its alpha, transparent files only
    thumb_width: int | None = None
    thumb_phash: int | None = None  # pHash of the whole (untrimmed) thumbnail
    unpadded_phash: int | None = None  # of that thumbnail less its flat margins; 0 when it has none
    turned_phash_90: int | None = None  # of that thumbnail turned 90 degrees counterclockwise
    turned_phash_180: int | None = None
    turned_phash_270: int | None = None
    region_phashes: bytes | None = None  # pHashes of regions of that thumbnail (hashing.region_phashes)
    keypoint_xy: bytes | None = None  # ORB keypoints (curation.dedupe.keypoints): positions ...
    keypoints: bytes | None = None  # ... and descriptors; both empty when the picture has too few

    def as_row(self) -> dict:
        return asdict(self)


def _decode_all_frames(img: Image.Image) -> tuple[int, Image.Image]:
    """Every frame decoded (a broken later frame fails the file): the frame count and the first
    frame, kept as it was decoded (seeking back to it would decode it again)."""
    frames = getattr(img, "n_frames", 1)
    first = img
    for i in range(frames):
        img.seek(i)
        img.load()
        if i == 0 and frames > 1:
            first = img.copy()
    return frames, first


MAX_ASPECT = 1000  # a picture longer than this many times its width is a sliver (or an attack), not a picture


def inspect_file(
    path: str | Path, max_pixels: int, background: tuple[int, int, int] = (255, 255, 255), jpeg_draft: bool = False
) -> Inspection:
    """:func:`inspect_one`, with any fault of this one file ending in a status for it: running out of
    memory is ``bomb``, anything else unexpected ``corrupt`` (logged with its traceback)."""
    try:
        return inspect_one(path, max_pixels, background, jpeg_draft)
    except MemoryError:
        return Inspection("bomb", "ran out of memory decoding or hashing it")
    except Exception as exc:  # noqa: BLE001 (one file must not stop the stage; the log keeps the traceback)
        log.warning("%s: inspection failed", path, exc_info=True)
        return Inspection("corrupt", f"inspection failed: {type(exc).__name__}: {exc}")


def inspect_one(
    path: str | Path, max_pixels: int, background: tuple[int, int, int] = (255, 255, 255), jpeg_draft: bool = False
) -> Inspection:
    """Decode ``path`` fully (every frame), classify it, and hash it when it decodes.

    ``jpeg_draft``: a JPEG is decoded at the smallest power-of-two reduction (1/2 to 1/8) that
    keeps its short side at least ``HASH_SIDE``, which libjpeg does from the DCT coefficients:
    every byte of the stream is still read and checked (a truncated or corrupt file fails as
    before), the hashes need no more pixels than that, and decoding is several times faster.
    The pixel digest is then of the reduced picture: equal for JPEGs with the same coefficients,
    never equal to a lossless copy's full pixels (which the perceptual hashes still match).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Inspection("missing", "no file at the expected path")
    except OSError as exc:
        return Inspection("corrupt", f"cannot read: {exc.strerror or exc}")
    result = Inspection("ok", file_md5=hashlib.md5(data).hexdigest())
    if not data:
        result.status, result.error = "corrupt", "empty file"
        return result
    Image.MAX_IMAGE_PIXELS = max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            result.format, result.width, result.height, result.mode = img.format, img.width, img.height, img.mode
            if max(img.size) > MAX_ASPECT * max(min(img.size), 1):
                result.status = "bomb"
                result.error = f"a {img.width} x {img.height} picture: too thin to be one (aspect ratio over {MAX_ASPECT})"
                return result
            if jpeg_draft and img.format == "JPEG":
                img.draft(None, (HASH_SIDE, HASH_SIDE))  # a no-op for small files and multi-frame MPOs
            result.frames, img = _decode_all_frames(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        result.status, result.error = "bomb", str(exc).split(". ")[0]
        return result
    except UnidentifiedImageError:
        result.status, result.error = "corrupt", "not an image Pillow can identify"
        return result
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated, broken chunks, bad headers
        result.status, result.error = "corrupt", f"does not decode: {exc}"
        return result
    with warnings.catch_warnings():  # Pillow's advice to store palette transparency as RGBA: not ours to act on
        warnings.filterwarnings("ignore", message="Palette images with Transparency", category=UserWarning)
        if img.mode not in WIDE_MODES:  # converted once for the alpha check, the digest and the hashes
            img = as_mode(img, "RGBA" if has_alpha_channel(img) else "RGB")
        result.has_alpha = has_real_alpha(img) if has_alpha_channel(img) else False
        reduced = img.size != (result.width, result.height)
        result.pixel_sha256 = pixel_digest(img, f"1/{round(result.width / img.width)}" if reduced else "")
        first = img if result.frames == 1 else as_mode(img, "RGBA")
        for key, value in picture_hashes(first, background, result.has_alpha).items():
            setattr(result, key, value)
        for key, value in keypoint_columns(first, background).items():
            setattr(result, key, value)
    return result
