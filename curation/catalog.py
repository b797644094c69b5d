"""The DuckDB catalog of a workspace and the runner for the SQL steps in ``curation/sql/``.

Each SQL step is one file, loaded by its path under ``sql/`` without the suffix
(``"staging/stg_posts_json"``); values arrive as named parameters (``$min_width``), never
formatted into the text. Every statement is logged with its parameters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from .errors import CurationError, DamagedFile, WorkspaceError
from .lock import workspace_lock

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).resolve().parent / "sql"  # shipped in the wheel as package data
CATALOG_NAME = "catalog.duckdb"


@cache
def sql_text(step: str) -> str:
    """The text of ``sql/{step}.sql``."""
    path = SQL_DIR / f"{step}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"SQL step {step!r} not found at {path} (a broken install: reinstall booru-curate)")
    return path.read_text(encoding="utf-8")


DAMAGED_ADVICE = (
    "it was left as it is: restore it from a backup, or move it away and run `curate run` to rebuild it "
    "(moderators' decisions are kept apart, in decisions.sqlite)"
)
HEADER_BYTES = 3 * 4096  # DuckDB's file header before the first block


def _connect(path: Path | None, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection; a file that does not open, or is shorter than its own block count says, is
    damaged (truncated, overwritten): DamagedFile, never opened for writing."""
    if path is None:
        return duckdb.connect(":memory:")
    deadline = time.monotonic() + LOCKED_FILE_WAIT
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "Could not set lock" in str(exc) and time.monotonic() < deadline:
                time.sleep(0.1)  # another process has it open a moment (a checkpoint, a stage's record)
                continue
            if "Could not set lock" in str(exc):
                raise WorkspaceError(f"{path}: in use by another process ({str(exc).splitlines()[0]})") from None
            raise DamagedFile(f"{path}: the catalog does not open ({str(exc).splitlines()[0]}); {DAMAGED_ADVICE}") from None
        except duckdb.Error as exc:
            raise DamagedFile(f"{path}: the catalog does not open ({str(exc).splitlines()[0]}); {DAMAGED_ADVICE}") from None
    try:
        # used blocks, not total: free blocks at the end are cut off the file by DuckDB itself
        [(blocks, block_size)] = con.execute("SELECT used_blocks, block_size FROM pragma_database_size()").fetchall()
    except duckdb.Error as exc:
        con.close()
        raise DamagedFile(f"{path}: the catalog does not read ({str(exc).splitlines()[0]}); {DAMAGED_ADVICE}") from None
    expected = HEADER_BYTES + int(blocks) * int(block_size)
    if blocks and path.stat().st_size < expected:
        con.close()
        raise DamagedFile(
            f"{path}: the catalog is cut short ({path.stat().st_size} bytes of the {expected} its blocks need); {DAMAGED_ADVICE}"
        )
    return con


LOCKED_FILE_WAIT = 15.0  # seconds a connection waits for another process's momentary hold on the file


class Catalog:
    """A connection to ``WORKSPACE/catalog.duckdb`` (or an in-memory catalog for ``None``)."""

    def __init__(self, path: Path | str | None, read_only: bool = False, memory_limit: str | None = None) -> None:
        self.path = Path(path) if path else None
        self.con = _connect(self.path, read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")  # the library never prints
        if memory_limit:  # beyond it DuckDB spills to WORKSPACE/catalog.duckdb.tmp
            self.con.execute("SET memory_limit = ?", [memory_limit])
        if not read_only:
            self.con.execute(sql_text("schema/catalog"))
            self.con.execute(sql_text("schema/migrations"))
            if not self.scalar("SELECT count(*) FROM tag_canonical") and self.scalar(
                "SELECT count(*) FROM tag_aliases WHERE status = 'active'"
            ):  # a catalog made before tag_canonical existed
                self.run("marts/tag_canonical")
            if self.has_column("dump_tags", "tag_id"):
                self.con.execute(sql_text("schema/dump_tags_lists"))

    def run(self, step: str, **params: Any) -> duckdb.DuckDBPyConnection:
        """Execute one SQL step with named parameters; returns the cursor for fetching."""
        started = time.perf_counter()
        if params:  # DuckDB binds parameters in a script's last statement only: each statement gets its own
            for statement in self.con.extract_statements(sql_text(step)):
                wanted = {name: params[name] for name in statement.named_parameters}
                cursor = self.con.execute(statement, wanted) if wanted else self.con.execute(statement)
        else:
            cursor = self.con.execute(sql_text(step))
        log.info("sql %s %s (%.2fs)", step, params, time.perf_counter() - started)
        return cursor

    def frame(self, step: str, **params: Any):
        """One SQL step's result as a polars DataFrame (through Arrow, without a row-by-row copy)."""
        import polars as pl

        started = time.perf_counter()
        table = self.con.sql(sql_text(step), params=params or None).to_arrow_table()
        log.info("sql %s %s (%.2fs)", step, params, time.perf_counter() - started)
        return pl.from_arrow(table)

    def frame_sql(self, query: str, params: dict | None = None):
        """An ad-hoc query's result as a polars DataFrame (through Arrow)."""
        import polars as pl

        return pl.from_arrow(self.con.sql(query, params=params).to_arrow_table())

    def rows(self, query: str, params: dict | list | None = None) -> list[tuple]:
        """All rows of an ad-hoc query (fetched to the end, as DuckDB 2 requires)."""
        return self.con.execute(query, params or []).fetchall()

    def scalar(self, query: str, params: dict | list | None = None) -> Any:
        rows = self.rows(query, params)
        return rows[0][0] if rows else None

    @contextlib.contextmanager
    def registered(self, name: str, table) -> Iterator[None]:
        """``table`` (Arrow, polars or pandas) visible to SQL as ``name`` for the block."""
        self.con.register(name, table)
        try:
            yield
        finally:
            self.con.unregister(name)

    def has_table(self, name: str) -> bool:
        return bool(self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))

    def has_column(self, table: str, column: str) -> bool:
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?", [table, column]
            )
        )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_catalog(workspace: Path | str, read_only: bool = False, memory_limit: str | None = None) -> Catalog:
    """The workspace's catalog, created on first use."""
    workspace = Path(workspace)
    if not workspace.is_dir():
        raise WorkspaceError(f"{workspace}: no such workspace (create one with `curate init {workspace} --source DUMP`)")
    if read_only and not (workspace / CATALOG_NAME).exists():
        raise WorkspaceError(f"{workspace}: no catalog yet; run `curate ingest {workspace}` first")
    return Catalog(workspace / CATALOG_NAME, read_only=read_only, memory_limit=memory_limit)


def migrate_catalog(workspace: Path | str) -> None:
    """Bring a catalog made by an earlier version up to the current schema (a read-write open
    applies ``sql/schema``), for a stage that plans from a read-only connection. No catalog yet:
    nothing to do (the stage's own check says to run ``curate ingest``)."""
    if (Path(workspace) / CATALOG_NAME).exists():
        Catalog(Path(workspace) / CATALOG_NAME).close()


@contextlib.contextmanager
def staged_catalog(workspace: Path | str, memory_limit: str | None = None) -> Iterator[Catalog]:
    """A working copy of the workspace's catalog that replaces it only if the block succeeds.

    A failed or interrupted stage leaves the catalog exactly as it was. (We swap files rather
    than wrap the stage in one DuckDB transaction: DuckDB 2.0.0 loses rows inserted into a
    table created within the same transaction once they are large, so big stages cannot run
    inside one.)
    """
    workspace = Path(workspace)
    if not workspace.is_dir():
        raise WorkspaceError(f"{workspace}: no such workspace (create one with `curate init {workspace} --source DUMP`)")
    with workspace_lock(workspace, _lock_wait(workspace)):
        target = workspace / CATALOG_NAME
        work = workspace / f"{CATALOG_NAME}.work"
        for leftover in (work, Path(f"{work}.wal")):
            leftover.unlink(missing_ok=True)
        if target.exists():
            with Catalog(target) as current:  # fold any write-ahead log into the file before copying
                current.con.execute("CHECKPOINT")
            shutil.copyfile(target, work)
        cat = Catalog(work, memory_limit=memory_limit)
        try:
            from .decisions import sync_decisions

            sync_decisions(cat, workspace)
            yield cat
            cat.con.execute("CHECKPOINT")
            cat.close()
            os.replace(work, target)
            Path(f"{target}.wal").unlink(missing_ok=True)
        except BaseException:
            cat.close()
            for leftover in (work, Path(f"{work}.wal")):
                leftover.unlink(missing_ok=True)
            raise


def _lock_wait(workspace: Path) -> float:
    from .config import load_config

    try:
        return load_config(workspace).runner.lock_wait
    except CurationError:  # no config (a bare catalog in tests): refuse at once
        return 0.0


@contextlib.contextmanager
def catalog_in_place(workspace: Path | str) -> Iterator[Catalog]:
    """The workspace's catalog itself, under the workspace lock, for a small atomic write (one
    statement or one transaction: a stage's run record) that is not worth a copy of the catalog."""
    workspace = Path(workspace)
    with workspace_lock(workspace, _lock_wait(workspace)), Catalog(workspace / CATALOG_NAME) as cat:
        yield cat
