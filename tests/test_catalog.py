"""How a stage writes the catalog: in a scratch database beside it, landed in one transaction.

The catalog stays readable by other processes while a stage works; a failed stage changes
nothing; a stage writes what it changes, not a copy of the catalog.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import catalog_rows as rows

from curation.catalog import REMOVED_SUFFIX, SCRATCH_NAME, Catalog, staged_catalog
from curation.images import run_images

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ws(tmp_path) -> Path:
    with Catalog(tmp_path / "catalog.duckdb") as cat:
        cat.con.execute("CREATE TABLE kept (id INTEGER PRIMARY KEY, v VARCHAR)")
        cat.con.execute("INSERT INTO kept VALUES (1, 'a'), (2, 'b')")
        cat.con.execute("CREATE TABLE notes AS SELECT 'old' AS note")
    return tmp_path


def test_tables_a_stage_replaces_or_updates_land_and_the_rest_stay(ws):
    with staged_catalog(ws, changes=("kept",)) as cat:
        cat.con.execute("UPDATE kept SET v = 'A' WHERE id = 1")
        cat.con.execute("CREATE OR REPLACE TABLE notes AS SELECT 'new' AS note, 2 AS n")
        cat.con.execute("CREATE TABLE made AS SELECT 42 AS x")
        assert cat.rows("SELECT * FROM notes") == [("new", 2)] and cat.scalar("SELECT count(*) FROM kept") == 2
    assert rows(ws, "SELECT * FROM kept ORDER BY id") == [(1, "A"), (2, "b")]
    assert rows(ws, "SELECT * FROM notes") == [("new", 2)]
    assert rows(ws, "SELECT * FROM made") == [(42,)]
    assert ("PRIMARY KEY",) in rows(ws, "SELECT constraint_type FROM duckdb_constraints() WHERE table_name = 'kept'")
    assert not (ws / SCRATCH_NAME).exists()


def test_a_table_the_stage_did_not_name_cannot_be_changed_in_place(ws):
    with pytest.raises(duckdb.Error, match="read-only"), staged_catalog(ws) as cat:
        cat.con.execute("UPDATE kept SET v = 'A'")
    assert rows(ws, "SELECT * FROM kept ORDER BY id") == [(1, "a"), (2, "b")]


def test_a_failed_stage_changes_nothing(ws):
    with pytest.raises(RuntimeError), staged_catalog(ws, changes=("kept",)) as cat:
        cat.con.execute("DELETE FROM kept")
        cat.con.execute("CREATE OR REPLACE TABLE notes AS SELECT 'new' AS note")
        raise RuntimeError("the stage failed")
    assert rows(ws, "SELECT * FROM kept ORDER BY id") == [(1, "a"), (2, "b")]
    assert rows(ws, "SELECT * FROM notes") == [("old",)]
    assert not (ws / SCRATCH_NAME).exists()


def test_upserted_rows_replace_theirs_by_key_and_leave_the_others(ws):
    with staged_catalog(ws, upserts={"kept": "id"}) as cat:
        assert cat.scalar("SELECT count(*) FROM kept") == 0  # only what the stage writes
        assert cat.scalar("SELECT count(*) FROM catalog.kept") == 2
        cat.con.execute("INSERT INTO kept VALUES (2, 'B'), (3, 'c')")
    assert rows(ws, "SELECT * FROM kept ORDER BY id") == [(1, "a"), (2, "B"), (3, "c")]
    with staged_catalog(ws, upserts={"kept": "id"}) as cat:
        cat.con.execute(f"CREATE TABLE kept{REMOVED_SUFFIX} AS SELECT 1 AS id")
    assert rows(ws, "SELECT * FROM kept ORDER BY id") == [(2, "B"), (3, "c")]
    assert rows(ws, f"SELECT count(*) FROM information_schema.tables WHERE table_name = 'kept{REMOVED_SUFFIX}'") == [(0,)]


def test_a_dropped_table_leaves_the_catalog(ws):
    with staged_catalog(ws) as cat:
        cat.drop_table("notes")
    assert rows(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'notes'") == [(0,)]


def test_another_process_reads_the_catalog_while_a_stage_works(ws):
    """The review page and `curate status` open the catalog read-only during a stage."""
    reader = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute('SELECT count(*) FROM kept').fetchall()[0][0])"
    )
    with staged_catalog(ws, changes=("kept",)) as cat:
        cat.con.execute("INSERT INTO kept VALUES (3, 'c')")
        seen = subprocess.run([sys.executable, "-c", reader, str(ws / "catalog.duckdb")], capture_output=True, text=True)
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.strip() == "2"  # the catalog as it was until the stage lands
    assert rows(ws, "SELECT count(*) FROM kept") == [(3,)]


@pytest.mark.slow
def test_a_million_rows_land_whole(ws):
    """DuckDB 2.0.0 lost large inserts into a table created in the same transaction when read back
    in it; the landing creates and fills tables in one transaction and must keep every row."""
    n = 1_000_000
    with staged_catalog(ws, changes=("kept",)) as cat:
        cat.con.execute("INSERT INTO kept SELECT range + 10, 'x' FROM range($n)", {"n": n})
        cat.con.execute("CREATE TABLE big (id BIGINT PRIMARY KEY, v DOUBLE)")
        cat.con.execute("INSERT INTO big SELECT range, range / 7 FROM range($n)", {"n": n})
    assert rows(ws, "SELECT count(*), count(DISTINCT id) FROM kept") == [(n + 2, n + 2)]
    assert rows(ws, "SELECT count(*), sum(id) FROM big") == [(n, n * (n - 1) // 2)]


def test_images_write_only_the_files_inspected_now_and_backfill_old_hashes(built_ws, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(built_ws, ws)
    query = "SELECT md5, unpadded_phash, turned_phash_90, turned_phash_180, turned_phash_270 FROM image_hashes ORDER BY md5"
    before = rows(ws, query)
    assert before and all(r[1] is not None for r in before)
    old = before[:3]
    with Catalog(ws / "catalog.duckdb") as cat:  # hashed before the columns existed
        cat.con.execute(
            "UPDATE image_hashes SET unpadded_phash = NULL, turned_phash_90 = NULL WHERE md5 IN (SELECT unnest($m))",
            {"m": [r[0] for r in old]},
        )
        kept_images = cat.rows("SELECT * FROM images ORDER BY post_id")
    run_images(ws)
    assert rows(ws, query) == before  # filled from the stored thumbnails, nothing else changed
    assert rows(ws, "SELECT * FROM images ORDER BY post_id") == kept_images


def test_a_changed_table_the_catalog_lacks_is_made_by_the_stage(ws):
    with staged_catalog(ws, changes=("later",)) as cat:
        cat.con.execute("CREATE TABLE later AS SELECT 7 AS x")
    assert rows(ws, "SELECT * FROM later") == [(7,)]
