"""Finding and recognising a source's files: globs, snapshots, hashes, first bytes."""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import mmap
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..catalog import Catalog
from ..config import Source
from ..errors import SourceError, UnknownFormat
from . import kernels
from .detect import SNIFF_BYTES, detect_file, first_json_object, head_bytes

DEFAULT_GLOBS = {
    "danbooru2021": "posts*.json*",
    "danbooru2017": "20*",
    "danbooru_api": "*.json*",
    "e621": "posts-*.csv*",
    "danbooru_sqlite": "*.db",
    "tags": "tags*",
    "aliases": "*alias*",
    "implications": "*implication*",
}
# a file may look like a close cousin of its declared format (an API file with tag_string_*)
COMPATIBLE = {"danbooru2021": {"danbooru2021", "danbooru_api"}, "danbooru_api": {"danbooru_api", "danbooru2021", "danbooru2017"}}
DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def source_files(source: Source) -> list[Path]:
    """The files of a source: one file, a glob, or a folder searched with the format's pattern."""
    path = source.path
    if glob.has_magic(str(path)):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
    elif path.is_dir():
        files = sorted(p for p in path.glob(DEFAULT_GLOBS[source.format]) if p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise SourceError(f"{path}: no such file or folder (a [[sources]] path in curate.toml)")
    if not files:
        raise SourceError(f"{path}: no {source.format} files there")
    return files


def newest_snapshot(files: list[Path]) -> list[Path]:
    """Of a full dump's files, those of its newest snapshot (by the date in their names, as in
    posts-2026-01-01.csv.gz); files without a date are one snapshot. An older snapshot must not
    keep posts alive that the newer one dropped."""
    dated = {f: DATE_IN_NAME.search(f.name) for f in files}
    dates = sorted({m.group(1) for m in dated.values() if m})
    if not dates:
        return files
    return [f for f, m in dated.items() if m is None or m.group(1) == dates[-1]]


_WINDOW = 1 << 26  # 64 MB: the file pages one pass maps at a time (mapped pages count in the process's RSS)


def _each_window(path: Path, take: Callable[[np.ndarray], None]) -> None:
    """take(bytes (n,) uint8) for each 64 MB window of the file in turn, mapped rather than read:
    the page cache is hashed and counted where it lies, without copying 1 GB through a buffer
    for each pass. take must keep no view of its window, which is unmapped after the call (and
    a dump must not be truncated while it is ingested: reading a mapped page past the new end
    faults)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for offset in range(0, size, _WINDOW):
            with mmap.mmap(f.fileno(), min(_WINDOW, size - offset), offset=offset, access=mmap.ACCESS_READ) as mapped:
                window = np.frombuffer(mapped, np.uint8)
                try:
                    take(window)
                finally:
                    del window  # the map cannot close while a view of it is alive


def file_sha256(path: Path) -> str:
    """The file's sha256 (hex)."""
    digest = hashlib.sha256()
    _each_window(path, digest.update)
    return digest.hexdigest()


def file_lines(path: Path) -> int | None:
    """The number of lines of an uncompressed file (a last line without a newline counts): what
    the fast JSON reader's row count must match; None for a gzipped file."""
    seen = {"lines": 0, "first": b"", "last": b"\n"}

    def count(window: np.ndarray) -> None:
        seen["lines"] += kernels.count_byte(window, 10)
        seen["first"] = seen["first"] or window[:2].tobytes()
        seen["last"] = window[-1:].tobytes()

    _each_window(path, count)
    return None if seen["first"] == b"\x1f\x8b" else seen["lines"] + (seen["last"] != b"\n")


def check_format(path: Path, declared: str) -> bool:
    """False for an empty file; a SourceError when the file is plainly another format."""
    if path.stat().st_size == 0:
        return False
    try:
        found = detect_file(path)
    except UnknownFormat as exc:
        raise SourceError(f"{exc} (declared {declared} in curate.toml)") from None
    if found != declared and found not in COMPATIBLE.get(declared, ()):
        raise SourceError(f"{path}: declared {declared} in curate.toml, but it looks like {found}")
    return True


def snapshot_date(path: Path, cat: Catalog | None = None) -> dt.date | None:
    """The date in the file's name (posts-2026-01-01.csv.gz), else the newest updated_at staged."""
    match = DATE_IN_NAME.search(path.name)
    if match:
        return dt.date.fromisoformat(match.group(1))
    newest = cat.scalar("SELECT max(updated_at) FROM stg_staged") if cat is not None else None
    return newest.date() if newest else None


def is_json_array(path: Path) -> bool:
    return sniff(path).lstrip().startswith("[")


def sniff(path: Path, size: int = 4096) -> str:
    """The first bytes of a file as text, through gzip when it is gzipped (a UTF-8 byte order
    mark left out)."""
    return head_bytes(path, size).decode("utf-8", errors="replace")


def salvage_gzip(path: Path, folder: Path) -> tuple[Path, int]:
    """The whole lines a gzipped file holds before its stream ends early, decompressed into
    ``folder`` (streamed): (that file, its number of lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / path.name.removesuffix(".gz")
    lines, tail = 0, b""
    inflate = zlib.decompressobj(wbits=31)  # gzip framing; decompresses what there is, raises nothing at a cut
    with open(path, "rb") as src, open(out, "wb") as dst:
        while True:
            raw = src.read(1 << 20)
            if not raw:
                break
            try:
                chunk = tail + inflate.decompress(raw)
            except zlib.error:  # damaged, not only cut short: keep what came before
                break
            cut = chunk.rfind(b"\n") + 1
            dst.write(chunk[:cut])
            lines += chunk.count(b"\n", 0, cut)
            tail = chunk[cut:]
    return out, lines


def first_json_keys(path: Path) -> set[str]:
    """The keys of a JSON file's first object (empty when it does not parse)."""
    obj = first_json_object(sniff(path, SNIFF_BYTES))
    return set(obj) if obj else set()


def looks_json(path: Path) -> bool:
    return sniff(path).lstrip().startswith(("{", "["))


def has_header(path: Path, required: tuple[str, ...]) -> bool:
    lines = sniff(path).splitlines()
    columns = [c.strip().strip('"').lower() for c in lines[0].split(",")] if lines else []
    return all(col in columns for col in required)
