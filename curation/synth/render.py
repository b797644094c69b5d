"""Turn sampled posts into image files in the board's folder layout, in worker processes.

A planted duplicate is made the way reposts are made: its source is rendered and encoded as
the source post's file, then that file is decoded, transformed and encoded again. So a
re-encode of a JPEG as PNG keeps the JPEG's decoded pixels exactly, and an exact repost has
the same bytes. Bad files are written here too.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import transforms
from .draw import render
from .posts import Post
from .scene import Scene
from .vocab import ArtistStyle

NOT_AN_IMAGE = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body>Not Found</body></html>\n"


def board_path(post_id: int, ext: str) -> str:
    """Danbooru's original-file layout: ``original/{id % 1000:04d}/{id}.{ext}``."""
    return f"original/{post_id % 1000:04d}/{post_id}.{ext}"


@dataclass(frozen=True)
class RenderJob:
    """Everything a worker needs to write one post's file; plain data, cheap to pickle."""

    post_id: int
    path: str  # relative to the board folder
    scene: Scene  # the drawing (a transformed duplicate's source drawing)
    style: ArtistStyle
    ext: str
    quality: int
    source_ext: str | None = None  # set for duplicates: how the source file was encoded
    source_quality: int = 90
    dup_kind: str | None = None
    dup_params: dict | None = None
    bad: str | None = None


@dataclass(frozen=True)
class RenderResult:
    post_id: int
    md5: str  # of the file the board holds (for damaged files: of the intact original)
    file_size: int
    width: int
    height: int


def encode(frames: list[Image.Image], ext: str, quality: int, compress_level: int = 6) -> bytes:
    """Encode one image (or GIF frames) the way boards store them."""
    buf = io.BytesIO()
    img = frames[0]
    if ext == "jpg":
        if img.mode == "RGBA":
            bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, img)
        img.convert("RGB").save(buf, format="JPEG", quality=quality or 90)
    elif ext == "png":
        img.save(buf, format="PNG", compress_level=compress_level)
    elif ext == "webp":
        img.save(buf, format="WEBP", quality=quality or 90, lossless=quality == 0, method=4)
    elif ext == "gif":
        pal = [f.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for f in frames]
        if len(pal) > 1:
            pal[0].save(buf, format="GIF", save_all=True, append_images=pal[1:], duration=120, loop=0)
        else:
            pal[0].save(buf, format="GIF")
    else:
        raise ValueError(f"cannot encode {ext!r}")
    return buf.getvalue()


def _render_frames(scene: Scene, style: ArtistStyle) -> list[Image.Image]:
    return [render(scene, style, frame) for frame in range(scene.frames)]


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb to a
    decoder that trusts headers."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bad_file(job: RenderJob, img: Image.Image, good: bytes) -> tuple[bytes | None, bytes]:
    """(bytes to write or None for a missing file, bytes whose md5 the metadata records)."""
    if job.bad == "truncated":
        return good[: int(len(good) * 0.6)], good
    if job.bad == "zero_byte":
        return b"", good
    if job.bad == "missing":
        return None, good
    if job.bad == "not_an_image":
        return NOT_AN_IMAGE, good
    if job.bad == "decompression_bomb":
        data = bomb_png(40_000, 40_000)
        return data, data
    if job.bad == "cmyk_jpeg":
        buf = io.BytesIO()
        img.convert("RGB").convert("CMYK").save(buf, format="JPEG", quality=job.quality)
        return buf.getvalue(), buf.getvalue()
    if job.bad == "png16":
        grey = np.asarray(img.convert("L"), np.uint16) * 257
        buf = io.BytesIO()
        Image.fromarray(grey).save(buf, format="PNG")  # uint16 -> mode I;16
        return buf.getvalue(), buf.getvalue()
    if job.bad == "palette_transparency":
        rgba = img.convert("RGBA")
        pal = rgba.convert("RGB").quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        idx = np.asarray(pal).copy()
        idx[np.asarray(rgba.getchannel("A")) < 128] = 255
        out = Image.fromarray(idx, "P")
        out.putpalette(pal.getpalette()[: 255 * 3] + [0, 0, 0])
        buf = io.BytesIO()
        out.save(buf, format="PNG", transparency=255)
        return buf.getvalue(), buf.getvalue()
    raise ValueError(f"unknown bad-file kind {job.bad!r}")


def render_job(job: RenderJob, root: str) -> RenderResult:
    """Render, encode and write one post's file under ``root``."""
    if job.dup_kind is None or job.dup_kind == "variant":
        frames = _render_frames(job.scene, job.style)
        data = encode(frames, job.ext, job.quality)
        written, recorded = (data, data) if job.bad is None else _bad_file(job, frames[0], data)
    else:
        source = encode(_render_frames(job.scene, job.style), job.source_ext or job.ext, job.source_quality)
        if job.dup_kind == "exact":
            data = source
        else:
            with Image.open(io.BytesIO(source)) as decoded:
                decoded.load()
                img = decoded.convert("RGBA" if job.scene.transparent else "RGB")
            img = transforms.apply(job.dup_kind, job.dup_params or {}, img)
            # A lossless re-encode into the source's own format: same pixels, other bytes.
            level = 1 if job.dup_kind == "reencode" and job.ext == job.source_ext else 6
            data = encode([img], job.ext, int((job.dup_params or {}).get("quality", job.quality)), compress_level=level)
        written = recorded = data
    if written is not None:
        target = Path(root) / job.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(written)
    width, height = (40_000, 40_000) if job.bad == "decompression_bomb" else _size(recorded)
    return RenderResult(job.post_id, hashlib.md5(recorded).hexdigest(), len(recorded), width, height)


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def job_for(post: Post, by_id: dict[int, Post], styles: dict[str, ArtistStyle]) -> RenderJob:
    path = board_path(post.post_id, post.ext)
    if post.dup_kind is None or post.dup_kind == "variant":
        return RenderJob(post.post_id, path, post.scene, styles[post.artist], post.ext, post.quality, bad=post.bad)
    source = by_id[post.dup_of]
    return RenderJob(
        post.post_id,
        path,
        source.scene,
        styles[source.artist],
        post.ext,
        post.quality,
        source_ext=source.ext,
        source_quality=source.quality,
        dup_kind=post.dup_kind,
        dup_params=post.dup_params,
    )
