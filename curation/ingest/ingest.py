"""``curate ingest``: every source in curate.toml into the workspace's DuckDB catalog.

Dumps are read and parsed inside DuckDB (``sql/staging/``), never row by row in Python.
Bad rows go to ``ingest_rejects`` with their position and reason; the run works on a copy of
the catalog that replaces it only on success, so a failure leaves the catalog as it was. A
source whose files were all ingested before (same sha256) is skipped; a newer full dump
updates changed posts and marks posts it no longer lists as removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ..catalog import Catalog
from ..config import Config, Source
from ..context import StageContext, Where, stage_context
from ..errors import DumpShrank, SourceError
from ..progress import progress
from .canonical import DumpTags, arrow_array, canonical_post_tags
from .files import (
    check_format,
    file_lines,
    file_sha256,
    first_json_keys,
    has_header,
    is_json_array,
    looks_json,
    newest_snapshot,
    salvage_gzip,
    snapshot_date,
    source_files,
)
from .tag_split import staged_tag_ids

log = logging.getLogger(__name__)

DANBOORU_CATEGORIES = {0: "general", 1: "artist", 3: "copyright", 4: "character", 5: "meta"}
E621_CATEGORIES = {
    0: "general",
    1: "artist",
    2: "contributor",
    3: "copyright",
    4: "character",
    5: "species",
    6: "invalid",
    7: "meta",
    8: "lore",
}
POST_FORMATS = ("danbooru2021", "danbooru2017", "danbooru_api", "e621", "danbooru_sqlite")


@dataclass
class SourceReport:
    """What ingesting one source did."""

    path: str
    format: str
    files: int = 0
    skipped_files: int = 0
    rows: int = 0
    rejects: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0


@dataclass
class IngestReport:
    sources: list[SourceReport] = field(default_factory=list)
    posts: int = 0
    tags: int = 0
    post_tags: int = 0
    rejects: int = 0
    alias_cycles: list[str] = field(default_factory=list)  # names on a cycle of active aliases: kept as they are


def category_names(cfg: Config) -> dict[int, str]:
    """Category ids mean different things on Danbooru and e621 (5 is meta vs species)."""
    return E621_CATEGORIES if any(s.format == "e621" for s in cfg.sources) else DANBOORU_CATEGORIES


def _clear_csv_rejects(cat: Catalog) -> None:
    cat.con.execute("DROP TABLE IF EXISTS csv_reject_errors; DROP TABLE IF EXISTS csv_reject_scans;")


def _copy_csv_rejects(cat: Catalog, dump_file: str) -> int:
    if not cat.has_table("csv_reject_errors"):
        return 0
    n = cat.scalar("SELECT count(DISTINCT line) FROM csv_reject_errors")
    if n:
        cat.run("marts/rejects_from_csv_reader", dump_file=dump_file)
    return n


def _stage_json_fast(cat: Catalog, path: Path, line_count: Callable[[], int | None]) -> bool:
    """Stage a JSON-lines file with DuckDB's typed reader; False when it refuses the file, or
    when it staged rejects whose positions would be off (blank lines), and the file must be read
    line by line."""
    lean = "tag_string_general" in first_json_keys(path)
    try:
        cat.run("staging/stg_json_fast", path=str(path))
        if not lean:
            cat.run("staging/stg_json_fast_full")
        cat.run("staging/stg_json_fast_rows")
        cat.run("staging/stg_posts_json")
        _stage_rows(cat, "staging/stg_tagged_json")
        if lean and cat.scalar("SELECT count(*) FROM stg_staged WHERE reject_reason IS NULL AND category_strings_missing"):
            log.info("%s: posts without per-category tag strings: reading every column", path)
            cat.run("staging/stg_json_fast_full")
            cat.run("staging/stg_staged")
    except duckdb.Error as exc:
        log.info("%s: reading line by line (%s)", path, str(exc).splitlines()[0])
        _drop_staged(cat)
        return False
    rows, rejected = cat.rows("SELECT count(*), count(reject_reason) FROM stg_staged")[0]
    if not rejected:  # positions (rowid + 1) are used only for rejects: blank lines cannot mislead
        return True
    lines = line_count()  # asked only now: the lines are counted meanwhile
    if lines is None:  # compressed: count its lines through DuckDB
        lines = cat.scalar("SELECT coalesce(max(position), 0) FROM json_lines(?, ?)", [str(path), "\x01"])
    if rows != lines:
        log.info("%s: reading line by line (%d rows from %d lines: blank lines)", path, rows, lines)
        _drop_staged(cat)
        return False
    return True


def _stage_rows(cat: Catalog, tagged_step: str) -> None:
    """The staged file's posts (view stg_posts) with their tag columns (``tagged_step``) read
    once into stg_staged, and the view stg_rows over it."""
    cat.run(tagged_step)
    cat.run("staging/stg_staged")
    cat.run("staging/stg_rows")


def _drop_relation(cat: Catalog, name: str) -> None:
    """Drop a temporary table or view, whichever the name is (the two JSON readers differ)."""
    kind = cat.scalar("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name])
    if kind:
        cat.con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")


STAGED_RELATIONS = ("stg_rows", "stg_staged", "stg_tagged", "stg_dump_tags", "stg_posts", "stg_json_rows", "stg_json")


def _stage_posts_file(cat: Catalog, path: Path, fmt: str, dump_file: str, line_count: Callable[[], int | None]) -> int:
    """Parse one posts file into stg_staged (view stg_rows); returns rows rejected. A gzipped file
    cut short keeps the records before the cut (one reject says where the stream ends)."""
    try:
        return _stage_posts_file_once(cat, path, fmt, dump_file, line_count)
    except duckdb.IOException as exc:
        if "GZIP" not in str(exc).upper() or not path.name.endswith(".gz"):
            raise SourceError(f"{dump_file}: cannot be read ({str(exc).splitlines()[0]})") from None
    _drop_staged(cat)
    salvaged, lines = salvage_gzip(path, (cat.path.parent if cat.path else Path(tempfile.gettempdir())) / "salvaged")
    try:
        rejected = _stage_posts_file_once(cat, salvaged, fmt, dump_file, lambda: lines)
        cat.con.execute(
            "INSERT INTO ingest_rejects VALUES (?, ?, ?, '')",
            [dump_file, lines + 1, f"the gzip stream ends early (the file is cut short): {lines} whole lines read"],
        )
        return rejected + 1
    finally:
        salvaged.unlink(missing_ok=True)


def _stage_posts_file_once(cat: Catalog, path: Path, fmt: str, dump_file: str, line_count: Callable[[], int | None]) -> int:
    _clear_csv_rejects(cat)
    bad_lines = 0
    if fmt == "danbooru_sqlite":
        from .sqlite_source import stage_sqlite

        stage_sqlite(cat, path)
        _stage_rows(cat, "staging/stg_tagged_sqlite")
    elif fmt == "e621":
        cat.run("staging/stg_posts_e621", path=str(path))
        _stage_rows(cat, "staging/stg_tagged_e621")
        bad_lines = _copy_csv_rejects(cat, dump_file)
    else:
        is_array = is_json_array(path)
        if is_array or not _stage_json_fast(cat, path, line_count):
            cat.run("staging/stg_json_lines", path=str(path), sep="\x01", is_array=is_array)
            bad_lines = _copy_csv_rejects(cat, dump_file)
            if bad_lines:
                cat.con.execute(
                    "CREATE OR REPLACE TEMP TABLE csv_bad_lines AS "
                    "SELECT line, row_number() OVER (ORDER BY line) AS idx FROM (SELECT DISTINCT line FROM csv_reject_errors)"
                )
                cat.run("staging/stg_posts_fix_positions")
            cat.run("staging/stg_posts_json")
            _stage_rows(cat, "staging/stg_tagged_json")
    cat.run("marts/rejects_from_staging", dump_file=dump_file)
    return bad_lines + cat.scalar("SELECT count(*) FROM stg_staged WHERE reject_reason IS NOT NULL")


def _ingest_posts(
    cat: Catalog,
    source: Source,
    files: list[Path],
    digests: _Digests,
    report: SourceReport,
    full_dump: bool,
    fresh: FreshTags,
    held: dict[str, int] | None,
) -> None:
    """Stage the source's files and write its posts and dump tags. ``held``: posts each file held
    when last ingested, for the shrink checks (None: no checks, as with --allow-shrink)."""
    held_before = held or {}
    one_file = len(files) == 1  # its staged rows are the batch (no copy); several files are appended to one
    if not one_file:
        cat.run("marts/batch_tables")
    batch_tags = BatchTags()
    records: list[tuple[Path, dt.date | None, int]] = []  # recorded last: the files' sha256 is computed meanwhile
    with progress(f"ingesting {source.format} posts", len(files)) as advance:
        for order, path in enumerate(files):
            dump_file = str(path)
            cat.con.execute("DELETE FROM ingest_rejects WHERE dump_file = ?", [dump_file])  # a file's rejects are its last read's
            if not check_format(path, source.format):
                if held_before.get(dump_file):
                    raise _shrank(dump_file, held_before[dump_file], 0, held_before[dump_file])
                cat.con.execute("INSERT INTO ingest_rejects VALUES (?, 0, 'empty file', '')", [dump_file])
                report.rejects += 1
                records.append((path, None, 0))
                if one_file:
                    cat.run("marts/batch_tables")
                advance(1)
                continue
            report.rejects += _stage_posts_file(cat, path, source.format, dump_file, lambda path=path: digests.lines(path))
            rows = cat.scalar("SELECT count(*) FROM stg_staged WHERE reject_reason IS NULL")
            if held_before.get(dump_file) and rows < SHRINK_LIMIT * held_before[dump_file]:
                raise _shrank(dump_file, held_before[dump_file], rows, held_before[dump_file] - rows)
            report.rows += rows
            cat.run("marts/batch_single" if one_file else "marts/batch_append", dump_file=dump_file, file_order=order)
            batch_tags.add(staged_tag_ids(cat), order)
            records.append((path, snapshot_date(path, cat), rows))
            if not one_file:
                _drop_staged(cat)  # free the staged file's memory before the next one
            advance(1)
    repeated = cat.scalar("SELECT count(*) - count(DISTINCT post_id) FROM batch_posts")
    report.rejects += repeated
    cat.con.execute("DROP VIEW IF EXISTS batch_final; DROP TABLE IF EXISTS batch_final;")
    cat.run("marts/batch_dedupe" if repeated else "marts/batch_final")
    new, changed, unchanged, absent = cat.run("marts/posts_upsert_counts", format=source.format).fetchall()[0]
    if full_dump and held is not None and absent:
        live = cat.scalar(
            "SELECT count(*) FROM posts WHERE NOT is_removed AND dump_file IN (SELECT dump_file FROM dumps WHERE format = ?)",
            [source.format],
        )
        if absent > SHRINK_LIMIT * live:
            raise _shrank(str(source.path), live, live - absent, absent)
    report.new, report.changed, report.unchanged = new, changed, unchanged
    all_new = not (repeated or changed or unchanged)
    with cat.registered("batch_dump_tags", batch_tags.rows(with_file_order=not all_new)):
        cat.run("marts/posts_insert_new" if all_new else "marts/posts_upsert")
    _ensure_posts_key(cat)
    fresh.add(batch_tags if all_new else None)
    if full_dump:
        report.removed = absent
        if absent:  # else the catalog's every live post is in the batch (a first ingest): nothing to mark
            cat.run("marts/posts_mark_removed", format=source.format)
    cat.run("marts/posts_has_children")
    for path, snapshot, rows in records:
        _record_dump(cat, path, source.format, snapshot, rows, digests.sha256(path))
    for relation in ("batch_changed", "batch_final", "batch_posts"):
        _drop_relation(cat, relation)
    _drop_staged(cat)


# the catalog tables ingest updates in place (the rest it replaces)
INGEST_CHANGES = (
    "posts",
    "dump_tags",
    "post_tags",
    "tags",
    "tag_aliases",
    "tag_canonical",
    "tag_implications",
    "ingest_rejects",
    "dumps",
)
RELATION_STEPS = ("marts/tags_from_relations", "marts/tag_canonical", "marts/alias_map", "marts/tag_implication_closure")


def _ensure_posts_key(cat: Catalog) -> None:
    """posts' primary key, added once its first rows are in (``schema/posts_key``)."""
    if not cat.scalar("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'posts' AND constraint_type = 'PRIMARY KEY'"):
        cat.run("schema/posts_key")


def _drop_staged(cat: Catalog) -> None:
    for relation in STAGED_RELATIONS:
        _drop_relation(cat, relation)


class BatchTags:
    """The dump tags of one source's staged files, kept in memory until the batch is written."""

    def __init__(self) -> None:
        self._files: list[tuple[list[DumpTags], int]] = []

    def add(self, parts: list[DumpTags], file_order: int) -> None:
        self._files.append((parts, file_order))

    def parts(self) -> list[DumpTags]:
        """Every file's parts, files one after another."""
        return [part for parts, _ in self._files for part in parts]

    def rows(self, with_file_order: bool) -> pa.Table:
        """One row per staged post: post_id, tag_ids (its list) and, when asked, the file_order
        it came from and its ordinal (rows numbered in file order across the batch: of a post
        id that one file repeats, the last row is the one kept). One record batch per part; the
        tag ids are not copied."""
        fields = [("post_id", pa.int64()), ("tag_ids", pa.large_list(pa.int32()))]
        fields += [("file_order", pa.int32()), ("ordinal", pa.int64())] if with_file_order else []
        batches = []
        ordinal = 0
        for parts, order in self._files:
            for part in parts:
                offsets = np.zeros(len(part.counts) + 1, np.int64)
                np.cumsum(part.counts, out=offsets[1:])
                columns = {
                    "post_id": arrow_array(part.post_ids),
                    "tag_ids": pa.LargeListArray.from_arrays(arrow_array(offsets), arrow_array(part.tag_ids)),
                }
                if with_file_order:
                    columns["file_order"] = arrow_array(np.full(len(part.post_ids), order, np.int32))
                    columns["ordinal"] = arrow_array(np.arange(ordinal, ordinal + len(part.post_ids), dtype=np.int64))
                    ordinal += len(part.post_ids)
                batches.append(pa.record_batch(columns))
        return pa.Table.from_batches(batches, schema=pa.schema(fields))


class FreshTags:
    """The dump tags of a first ingest, kept for canonicalisation so that they need not be read
    back from the catalog: valid while the catalog had none before and every batch was all new."""

    def __init__(self, catalog_had_tags: bool) -> None:
        self._parts: list[DumpTags] | None = None if catalog_had_tags else []

    def add(self, batch: BatchTags | None) -> None:
        if self._parts is not None:
            self._parts = None if batch is None else self._parts + batch.parts()

    def parts(self) -> list[DumpTags] | None:
        return self._parts


def _record_dump(cat: Catalog, path: Path, fmt: str, snapshot: dt.date | None, rows: int, digest: str) -> None:
    cat.con.execute(
        "INSERT OR REPLACE INTO dumps (dump_file, format, snapshot_date, sha256, rows, ingested_at, file_size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [str(path), fmt, snapshot, digest, rows, dt.datetime.now(dt.UTC).replace(tzinfo=None), path.stat().st_size],
    )


class _Digests:
    """Files' line counts and sha256, computed in background threads while DuckDB works. The
    hashing thread runs at the lowest priority: a 1 GB dump's sha256 takes most of a second of
    CPU that DuckDB's parallel read would otherwise lose, and it is needed only to record the
    dump once its posts are written (or to skip a file whose size matches one ingested before),
    so it runs on what the other steps leave idle."""

    def __init__(self, files: list[Path]) -> None:
        self._pools = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="lines"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256", initializer=_lowest_priority),
        )
        self._lines = {f: self._pools[0].submit(file_lines, f) for f in files}
        self._sha256 = {f: self._pools[1].submit(file_sha256, f) for f in files}

    def lines(self, path: Path) -> int | None:
        return self._lines[path].result()

    def sha256(self, path: Path) -> str:
        return self._sha256[path].result()

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(cancel_futures=True)


def _lowest_priority() -> None:
    """The calling thread at nice 19 (Linux only: elsewhere setpriority would renice the process)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _ingest_table_file(cat: Catalog, source: Source, path: Path) -> int:
    """A tag list, alias or implication file; returns the rows staged."""
    try:
        return _stage_table_file(cat, source, path)
    except duckdb.Error as exc:
        raise SourceError(f"{path}: cannot be read as {source.format} ({str(exc).splitlines()[0]})") from None


def _stage_table_file(cat: Catalog, source: Source, path: Path) -> int:
    _clear_csv_rejects(cat)
    cat.con.execute("DELETE FROM ingest_rejects WHERE dump_file = ?", [str(path)])  # a file's rejects are its last read's
    is_json = looks_json(path)
    if source.format == "tags":
        if is_json:
            cat.run("staging/stg_tags_json", path=str(path))
        elif has_header(path, ("name",)):
            cat.run("staging/stg_tags_csv", path=str(path))
        else:
            cat.run("staging/stg_tags_headerless", path=str(path))
        n, bad = cat.rows("SELECT count(*), count(reject_reason) FROM stg_tags")[0]
        if bad > n // 2:
            reason = cat.scalar("SELECT any_value(reject_reason) FROM stg_tags WHERE reject_reason IS NOT NULL")
            raise SourceError(
                f"{path}: not a tag list: {bad} of its {n} rows are not tags ({reason}); check its [[sources]] format"
            )
        cat.run("marts/tags_rejects", dump_file=str(path))
        cat.run("marts/tags_from_file")
        n -= bad
    else:
        cat.run("staging/stg_relations_json" if is_json else "staging/stg_relations", path=str(path))
        cat.run("marts/tag_aliases" if source.format == "aliases" else "marts/tag_implications")
        n = cat.scalar("SELECT count(*) FROM stg_relations")
    _copy_csv_rejects(cat, str(path))
    return n


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off for the block: an ingest makes almost no cyclic
    garbage, but enough objects to set off about a hundred collections at board scale, the last
    ones walking every object (0.05-0.1 s of CPU, measured, on cores that DuckDB needs)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


SHRINK_LIMIT = 0.5  # a full dump (or one of its files) keeping less than this share of its posts is refused


def ingest(workspace: Where, allow_shrink: bool = False) -> IngestReport:
    """Ingest every source of the workspace's curate.toml; returns what changed.

    A full dump that would remove more than half of its format's live posts, or a file of it
    that holds less than half the posts it held when last ingested (an emptied or cut-off
    re-download), is refused with DumpShrank unless ``allow_shrink``."""
    with _collector_paused():
        return _ingest(stage_context(workspace), allow_shrink)


def _shrank(path: str, held: int, now: int, removing: int) -> DumpShrank:
    return DumpShrank(
        f"{path}: held {held} posts when last ingested and now {now}: ingesting it would mark {removing} posts "
        f"removed. If the dump really shrank, run `curate ingest WORKSPACE --allow-shrink`; if not, restore the file"
    )


def _ingest(ctx: StageContext, allow_shrink: bool) -> IngestReport:
    workspace, cfg = ctx.workspace, ctx.config
    if not cfg.sources:
        raise SourceError(f"{workspace / 'curate.toml'}: no [[sources]] to ingest")
    report = IngestReport()
    with contextlib.ExitStack() as stack:
        cat = stack.enter_context(ctx.staged(*INGEST_CHANGES))
        cat.run("staging/macros")
        cat.con.execute("CREATE OR REPLACE TEMP TABLE tag_category_names (category_id INTEGER, category VARCHAR)")
        cat.con.executemany("INSERT INTO tag_category_names VALUES (?, ?)", list(category_names(cfg).items()))
        # "unchanged" means unchanged since that path was last ingested, not content seen at any time
        last = {
            r[0]: (r[1], r[2])
            for r in cat.rows("SELECT dump_file, arg_max(sha256, ingested_at), arg_max(rows, ingested_at) FROM dumps GROUP BY 1")
        }
        known_sizes = {r[0] for r in cat.rows("SELECT file_size FROM dumps")}  # None: recorded before sizes were
        # relations and tag lists first, so posts canonicalise against them
        ordered = sorted(cfg.sources, key=lambda s: (s.format in POST_FORMATS, s.format != "tags"))
        files_of = {id(source): source_files(source) for source in ordered}
        digests = _Digests([f for source in ordered for f in files_of[id(source)]])
        stack.callback(digests.close)
        changed_any = False
        fresh = FreshTags(catalog_had_tags=bool(cat.scalar("SELECT count(*) FROM (SELECT 1 FROM dump_tags LIMIT 1)")))
        for source in ordered:
            files = files_of[id(source)]
            sr = SourceReport(str(source.path), source.format, files=len(files))
            report.sources.append(sr)
            # a file of a size never recorded is new: no need to wait for its digest
            if all(f.stat().st_size in known_sizes or None in known_sizes for f in files) and all(
                last.get(str(f), (None,))[0] == digests.sha256(f) for f in files
            ):
                sr.skipped_files = len(files)
                log.info("skipping %s: every file was ingested before", source.path)
                continue
            changed_any = True
            if source.format in POST_FORMATS:
                full = (
                    source.full_dump if source.full_dump is not None else source.format not in ("danbooru_api", "danbooru_sqlite")
                )
                if full:
                    files = newest_snapshot(files)
                    sr.skipped_files = sr.files - len(files)
                held = None if allow_shrink else {str(f): last[str(f)][1] or 0 for f in files if str(f) in last}
                _ingest_posts(cat, source, files, digests, sr, full, fresh, held)
            else:
                for path in files:
                    digest = digests.sha256(path)
                    if last.get(str(path), (None,))[0] == digest:
                        sr.skipped_files += 1
                        continue
                    rows = _ingest_table_file(cat, source, path)
                    sr.rows += rows
                    _record_dump(cat, path, source.format, snapshot_date(path), rows, digest)
        if changed_any or not cat.has_table("tag_implication_closure"):
            with progress("canonicalising tags", len(RELATION_STEPS) + 1) as advance:
                for step in RELATION_STEPS:
                    cat.run(step)
                    advance(1)
                canonical_post_tags(cat, fresh.parts())
                advance(1)
        report.alias_cycles = [r[0] for r in cat.rows("SELECT name FROM tag_canonical WHERE cycle ORDER BY name")]
        report.posts = cat.scalar("SELECT count(*) FROM posts WHERE NOT is_removed")
        report.tags = cat.scalar("SELECT count(*) FROM tags WHERE post_count > 0")
        report.post_tags = cat.scalar("SELECT count(*) FROM post_tags")
        report.rejects = cat.scalar("SELECT count(*) FROM ingest_rejects")
    return report
