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
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb

from .errors import WorkspaceError

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).resolve().parent / "sql"  # shipped in the wheel as package data
CATALOG_NAME = "catalog.duckdb"


@lru_cache(maxsize=None)
def sql_text(step: str) -> str:
    """The text of ``sql/{step}.sql``."""
    path = SQL_DIR / f"{step}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"SQL step {step!r} not found at {path} (a broken install: reinstall booru-curate)")
    return path.read_text(encoding="utf-8")


class Catalog:
    """A connection to ``WORKSPACE/catalog.duckdb`` (or an in-memory catalog for ``None``)."""

    def __init__(self, path: Path | str | None, read_only: bool = False, memory_limit: str | None = None) -> None:
        self.path = Path(path) if path else None
        try:
            self.con = duckdb.connect(str(path) if path else ":memory:", read_only=read_only)
        except duckdb.IOException as exc:
            raise WorkspaceError(f"{path}: cannot open the catalog ({exc})") from None
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")  # the library never prints
        if memory_limit:  # beyond it DuckDB spills to WORKSPACE/catalog.duckdb.tmp
            self.con.execute("SET memory_limit = ?", [memory_limit])
        if not read_only:
            self.con.execute(sql_text("schema/catalog"))
            self.con.execute(sql_text("schema/migrations"))
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

    def rows(self, query: str, params: dict | list | None = None) -> list[tuple]:
        """All rows of an ad-hoc query (fetched to the end, as DuckDB 2 requires)."""
        return self.con.execute(query, params or []).fetchall()

    def scalar(self, query: str, params: dict | list | None = None) -> Any:
        rows = self.rows(query, params)
        return rows[0][0] if rows else None

    def has_table(self, name: str) -> bool:
        return bool(self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]))

    def has_column(self, table: str, column: str) -> bool:
        return bool(self.scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
                                [table, column]))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Catalog":
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
