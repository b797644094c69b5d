"""The DuckDB catalog of a workspace and the runner for the SQL steps in ``curation/sql/``.

Each SQL step is one file, loaded by its path under ``sql/`` without the suffix
(``"staging/stg_posts_json"``); values arrive as named parameters (``$min_width``), never
formatted into the text. Every statement is logged with its parameters.
"""

from __future__ import annotations

import contextlib
import logging
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

    def __init__(
        self, path: Path | str | None, read_only: bool = False, memory_limit: str | None = None, schema: bool = True
    ) -> None:
        self.path = Path(path) if path else None
        self.con = _connect(self.path, read_only)
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")  # the library never prints
        if memory_limit:  # beyond it DuckDB spills to WORKSPACE/catalog.duckdb.tmp
            self.con.execute("SET memory_limit = ?", [memory_limit])
        self.dropped: set[str] = set()  # tables a stage drops from the catalog (see drop_table)
        if not read_only and schema:
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

    def drop_table(self, name: str) -> None:
        """Drop ``name``; in a stage's scratch database, drop it from the catalog when the stage lands."""
        [(own,)] = self.rows("SELECT current_database()")
        self.con.execute(f'DROP TABLE IF EXISTS "{own}".main."{name}"')
        self.dropped.add(name)

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


SCRATCH_NAME = "stage.duckdb"  # a stage's own writes, beside the catalog until they land
REMOVED_SUFFIX = "__removed"  # a stage's table of keys whose rows leave an upserted table


@contextlib.contextmanager
def staged_catalog(
    workspace: Path | str,
    memory_limit: str | None = None,
    changes: tuple[str, ...] = (),
    upserts: dict[str, str] | None = None,
) -> Iterator[Catalog]:
    """The catalog as a stage sees it: every table it creates or replaces is written to a scratch
    database beside the catalog, which stays attached read-only as ``catalog`` (readers keep
    reading it). The tables in ``changes``, which the stage updates in place, are copied there
    first. Each table in ``upserts`` (name -> key column) starts empty there: the stage writes
    only its new and changed rows, which replace the catalog's rows with the same key, and reads
    the catalog's own rows as ``catalog.<name>``; the keys of rows to remove go in a table
    ``<name>__removed`` (REMOVED_SUFFIX) with the key column. When the block succeeds the scratch tables land
    in the catalog in one DuckDB transaction, so a stage writes what it changes, never a copy of
    the whole catalog; when it fails or is killed the catalog is as it was.

    (Not one long transaction on the catalog itself: a writer holds the file exclusively, so the
    review page could not read during a stage; and DuckDB 2.0.0 loses rows inserted into a table
    created in the same transaction once they are large and read back in it. The landing
    transaction inserts without reading back.)
    """
    workspace = Path(workspace)
    if not workspace.is_dir():
        raise WorkspaceError(f"{workspace}: no such workspace (create one with `curate init {workspace} --source DUMP`)")
    with workspace_lock(workspace, lock_wait(workspace)):
        target = workspace / CATALOG_NAME
        scratch = workspace / SCRATCH_NAME
        _remove_scratch(workspace)
        with Catalog(target) as current:  # creates or migrates the schema; folds the write-ahead log in
            current.con.execute("CHECKPOINT")
        cat = Catalog(scratch, memory_limit=memory_limit, schema=False)
        try:
            cat.con.execute(f"ATTACH '{_sql_path(target)}' AS catalog (READ_ONLY)")
            [(own,)] = cat.rows("SELECT current_database()")
            cat.con.execute(f"SET search_path = '\"{own}\".main,catalog.main'")
            for table in ("decisions", *changes):  # every stage folds moderators' decisions in
                _copy_table(cat, "catalog", table)
            for table in upserts or {}:
                cat.con.execute(_table_sql(cat.con, "catalog", table))
            from .decisions import sync_decisions

            sync_decisions(cat, workspace)
            yield cat
            written = [
                name for (name,) in cat.rows("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()")
            ]
            cat.con.execute("CHECKPOINT")
            cat.close()
            _land(target, scratch, written, cat.dropped, upserts or {})
        except BaseException:
            cat.close()
            raise
        finally:
            _remove_scratch(workspace)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _remove_scratch(workspace: Path) -> None:
    for name in (SCRATCH_NAME, f"{SCRATCH_NAME}.wal", f"{CATALOG_NAME}.work", f"{CATALOG_NAME}.work.wal"):
        (workspace / name).unlink(missing_ok=True)


def _copy_table(cat: Catalog, source: str, table: str) -> None:
    """``source.table`` into the connection's own database, with its constraints (an upsert needs
    its key); nothing when ``source`` has no such table (the stage creates it)."""
    ddl = _table_sql(cat.con, source, table)
    if ddl is None:
        return
    [(own,)] = cat.rows("SELECT current_database()")
    cat.con.execute(ddl)
    cat.con.execute(f'INSERT INTO "{own}".main."{table}" SELECT * FROM {source}."{table}"')


def _table_sql(con: duckdb.DuckDBPyConnection, database: str, table: str) -> str | None:
    """The table's CREATE statement (columns and constraints), None if it does not exist."""
    rows = con.execute("SELECT sql FROM duckdb_tables() WHERE database_name = ? AND table_name = ?", [database, table]).fetchall()
    return rows[0][0] if rows else None


def _land(target: Path, scratch: Path, written: list[str], dropped: set[str], upserts: dict[str, str]) -> None:
    """The scratch tables into the catalog, all or none: one transaction, then a checkpoint."""
    with Catalog(target) as cat:
        con = cat.con
        con.execute(f"ATTACH '{_sql_path(scratch)}' AS stage (READ_ONLY)")
        [(own,)] = con.execute("SELECT current_database()").fetchall()
        started = time.perf_counter()
        con.execute("BEGIN")
        try:
            for table in dropped - set(written):
                con.execute(f'DROP TABLE IF EXISTS "{table}"')
            for table in written:
                if table.endswith(REMOVED_SUFFIX) and table.removesuffix(REMOVED_SUFFIX) in upserts:
                    kept = table.removesuffix(REMOVED_SUFFIX)
                    key = upserts[kept]
                    con.execute(f'DELETE FROM "{kept}" WHERE "{key}" IN (SELECT "{key}" FROM stage."{table}")')
                    continue
                ddl = _table_sql(con, "stage", table)
                if table in upserts:
                    key = upserts[table]
                    con.execute(f'DELETE FROM "{table}" WHERE "{key}" IN (SELECT "{key}" FROM stage."{table}")')
                elif _table_sql(con, own, table) == ddl:
                    con.execute(f'DELETE FROM "{table}"')
                else:  # new, or replaced with other columns or constraints
                    con.execute(f'DROP TABLE IF EXISTS "{table}"')
                    con.execute(ddl)
                con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM stage."{table}"')
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("DETACH stage")
        con.execute("CHECKPOINT")
        log.info("landed %d tables in the catalog (%.2fs)", len(written), time.perf_counter() - started)


def lock_wait(workspace: Path) -> float:
    """Seconds a writer waits for the workspace lock: `[runner] lock_wait` (0 without a config)."""
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
    with workspace_lock(workspace, lock_wait(workspace)), Catalog(workspace / CATALOG_NAME) as cat:
        yield cat
