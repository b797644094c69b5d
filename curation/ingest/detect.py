"""Recognise what a dump file or folder is, from its names and first bytes.

Used by ``curate init`` to write ``[[sources]]`` entries, and by ingest to check that a file
is the format its source declares.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError, UnknownFormat

SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class DetectedSource:
    path: Path
    format: str
    images: Path | None = None


def head_bytes(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a file, through gzip when it is gzipped (what decompresses of
    a stream cut short), a UTF-8 byte order mark left out."""
    try:
        with open(path, "rb") as f:
            head = f.read(size)
            if head[:2] == b"\x1f\x8b":
                inflate = zlib.decompressobj(wbits=31)
                head = b""
                f.seek(0)
                while len(head) < size and (raw := f.read(1 << 16)):
                    try:
                        head += inflate.decompress(raw, size - len(head))
                    except zlib.error:
                        break
                    if inflate.unconsumed_tail:
                        head += inflate.decompress(inflate.unconsumed_tail, size - len(head))
                        break
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return head[:size].removeprefix(b"\xef\xbb\xbf")


_head = head_bytes


def first_json_object(text: str) -> dict | None:
    stripped = text.lstrip()
    if stripped.startswith("["):  # an API array: parse the first element only
        decoder = json.JSONDecoder()
        try:
            obj, _ = decoder.raw_decode(stripped[1:].lstrip())
        except json.JSONDecodeError:
            return None
        return obj if isinstance(obj, dict) else None
    for line in stripped.splitlines():
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                return None
            return obj if isinstance(obj, dict) else None
    return None


def detect_file(path: Path) -> str:
    """The source format of one file, or :class:`UnknownFormat` saying why not."""
    name = path.name.lower()
    head = _head(path)
    if head.startswith(b"SQLite format 3\x00"):
        return _sqlite_format(path)
    text = head.decode("utf-8", errors="replace")
    if text.lstrip().startswith(("{", "[")):
        obj = first_json_object(text)
        if obj is None:
            raise UnknownFormat(f"{path}: starts like JSON but its first record does not parse")
        if "antecedent_name" in obj:
            return "implications" if "implication" in name else "aliases"
        if "md5" not in obj and {"name", "category"} <= obj.keys():
            return "tags"
        if isinstance(obj.get("tags"), list):
            return "danbooru2017"
        if text.lstrip().startswith("[") or "media_asset" in obj:
            return "danbooru_api"
        if any(k.startswith("tag_string_") for k in obj):
            return "danbooru2021"
        raise UnknownFormat(f"{path}: JSON records without Danbooru post or tag fields (first keys: {', '.join(list(obj)[:6])})")
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (StopIteration, csv.Error):
        raise UnknownFormat(f"{path}: empty, or neither JSON nor CSV") from None
    columns = {c.strip().lower() for c in header}
    if {"antecedent_name", "consequent_name"} <= columns:
        if "implication" in name:
            return "implications"
        if "alias" in name:
            return "aliases"
        raise UnknownFormat(f"{path}: a tag relation file, but its name says neither 'alias' nor 'implication'")
    if {"md5", "tag_string"} <= columns:
        return "e621"
    if {"name", "category"} <= columns:
        return "tags"
    if len(header) >= 3 and header[1].strip().isdigit():  # a1111-style tags.csv: name,category,count,aliases
        return "tags"
    raise UnknownFormat(f"{path}: unrecognised columns {header[:8]}")


def _sqlite_format(path: Path) -> str:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    finally:
        con.close()
    if {"images", "tags", "imageTags"} <= tables:
        return "danbooru_sqlite"
    raise UnknownFormat(f"{path}: a SQLite database without the Danbooru2019 tables images, tags, imageTags")


_POST_GLOBS = (
    ("danbooru2021", "posts0*.json*"),
    ("danbooru2017", "20??0*"),
    ("e621", "posts-*.csv*"),
)


def detect(path: Path | str) -> list[DetectedSource]:
    """The sources in a file or a board folder (posts, tags, aliases, implications, images).

    A folder is searched one level deep (``metadata/``, ``db_export/``), so the folder that
    ``curate synth`` writes, or an unpacked Danbooru/e621 export, is one argument.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_file():
        return [DetectedSource(path, detect_file(path))]
    found: list[DetectedSource] = []
    claimed: set[Path] = set()
    folders = [path] + [p for p in (path / "metadata", path / "db_export") if p.is_dir()]
    for folder in folders:
        for fmt, pattern in _POST_GLOBS:
            matches = sorted(p for p in folder.glob(pattern) if p.is_file())
            if matches:
                kind = detect_file(matches[0])
                if kind != fmt and not (fmt == "danbooru2021" and kind == "danbooru_api"):
                    continue
                # the source is the glob: a multi-file export, and next week's snapshot, match it too
                found.append(DetectedSource(folder / pattern, kind))
                claimed.update(matches)
        for candidate in sorted(folder.iterdir()):
            if not candidate.is_file() or candidate in claimed:
                continue
            lower = candidate.name.lower()
            if lower.startswith(("tags", "tag_aliases", "tag_implications")) or lower.endswith((".sqlite", ".db")):
                found.append(DetectedSource(candidate, detect_file(candidate)))
    if not found:
        raise UnknownFormat(
            f"{path}: no dump files found (looked for posts*.json, 20??*.json, posts-*.csv.gz, tags*, "
            "tag_aliases*, tag_implications*)"
        )
    images = path / "original" if (path / "original").is_dir() else None
    return [
        DetectedSource(s.path, s.format, images if s.format in ("danbooru2021", "danbooru2017", "danbooru_api", "e621") else None)
        for s in found
    ]
