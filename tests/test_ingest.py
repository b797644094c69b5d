"""Ingest: every format into the catalog, checked against the synthetic truth; rejects with
positions; idempotent re-ingest; newer dumps; the real alias and implication files."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from curation.errors import DumpShrank, SourceError
from curation.ingest import ingest
from curation.workspace import init_workspace


def make_workspace(tmp_path: Path, *sources: Path, extra: str = "") -> Path:
    ws = tmp_path / "ws"
    init_workspace(ws, list(sources), overwrite=True)
    if extra:
        (ws / "curate.toml").write_text((ws / "curate.toml").read_text() + extra)
    return ws


def catalog(ws: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)


def expected_tags(board: Path) -> dict[int, set[str]]:
    """Truth tags minus planted omissions plus planted wrong tags: what the dump says, canonicalised."""
    posts = pl.read_parquet(board / "truth" / "posts.parquet")
    noise = pl.read_parquet(board / "truth" / "label_noise.parquet")
    out = {pid: set(tags) for pid, tags in zip(posts["post_id"], posts["true_tags"])}
    for pid, tag, change in noise.iter_rows():
        out[pid].discard(tag) if change == "missing" else out[pid].add(tag)
    return out


@pytest.mark.parametrize("board_name", ["board2021", "board2017", "board_e621"])
def test_each_format_ingests_to_the_truth(board_name, request, tmp_path):
    board = request.getfixturevalue(board_name)
    ws = make_workspace(tmp_path, board)
    report = ingest(ws)
    truth = pl.read_parquet(board / "truth" / "posts.parquet")
    con = catalog(ws)
    got = dict(con.execute("SELECT post_id, list(t.name) FROM post_tags JOIN tags t USING (tag_id) GROUP BY post_id").fetchall())
    assert {pid: set(tags) for pid, tags in got.items()} == expected_tags(board)
    posts = con.execute(
        "SELECT post_id, md5, image_width, image_height, rating, parent_id, is_deleted, created_at FROM posts ORDER BY post_id"
    ).fetchall()
    assert [p[0] for p in posts] == truth["post_id"].to_list()
    for p, t in zip(posts, truth.iter_rows(named=True)):
        assert p[1:7] == (t["md5"], t["width"], t["height"], t["rating"], t["parent_id"], t["is_deleted"])
        assert abs((p[7] - t["created_at"].replace(tzinfo=None)).total_seconds()) < 0.001
    quirks = pl.read_parquet(board / "truth" / "dump_quirks.parquet").filter(pl.col("quirk") == "row without id")
    rejects = con.execute("SELECT dump_file, position, reason FROM ingest_rejects").fetchall()
    assert sorted((Path(f).name, pos) for f, pos, _ in rejects) == sorted(
        (Path(f).name, n) for f, n in zip(quirks["file"], quirks["line"])
    )
    assert all(reason == "row without id" for *_, reason in rejects)
    assert report.posts == truth.height
    # implied tags are marked as such, and categories are known for every used tag
    assert con.execute("SELECT count(*) FROM post_tags WHERE origin = 'implied'").fetchall()[0][0] > 0
    assert con.execute("SELECT count(*) FROM tags WHERE post_count > 0 AND category IS NULL").fetchall()[0][0] == 0
    # posts has its primary key (added once the first posts were written)
    assert con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = 'posts' AND constraint_type = 'PRIMARY KEY'"
    ).fetchall() == [(["post_id"],)]


def test_post_tags_runs_are_stored_run_length_encoded(tmp_path):
    """The schema chooses RLE for post_tags' post_id and origin: even ids that DuckDB would
    bit-pack (one row per post, consecutive; origins alternating) are stored run-length encoded."""
    from curation.catalog import Catalog

    with Catalog(tmp_path / "catalog.duckdb") as cat:
        cat.con.execute(
            "INSERT INTO post_tags SELECT i, i % 7, CASE WHEN i % 2 = 0 THEN 'dump' ELSE 'implied' END FROM range(300000) r(i)"
        )
        cat.con.execute("CHECKPOINT")
        stored = dict(
            cat.rows(
                "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('post_tags') "
                "WHERE segment_type <> 'VALIDITY' GROUP BY column_name"
            )
        )
    assert stored["post_id"] == ["RLE"] and stored["origin"] == ["RLE"]


def test_an_ingest_never_imports_pandas(board2021, tmp_path):
    """pyarrow imports pandas on its first pa.array (0.3 s): the ingest builds its Arrow arrays
    from buffers instead. In a fresh interpreter, a first ingest and a re-ingest."""
    import subprocess
    import sys

    ws = make_workspace(tmp_path, board2021)
    code = "import sys; from curation.ingest import ingest; ingest(sys.argv[1]); print('pandas' in sys.modules)"
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code, str(ws)], check=True, capture_output=True, text=True)
        assert out.stdout.split()[-1] == "False"


def test_reingesting_the_same_files_changes_nothing(board2021, tmp_path):
    ws = make_workspace(tmp_path, board2021)
    ingest(ws)
    tables = ("posts", "tags", "post_tags", "dump_tags", "ingest_rejects", "tag_aliases", "tag_implications")
    before = {t: catalog(ws).execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    again = ingest(ws)
    assert all(s.skipped_files == s.files for s in again.sources)
    assert {t: catalog(ws).execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables} == before
    # a catalog from before dumps recorded file sizes still recognises its files by digest
    con = duckdb.connect(str(ws / "catalog.duckdb"))
    con.execute("UPDATE dumps SET file_size = NULL")
    con.close()
    assert all(s.skipped_files == s.files for s in ingest(ws).sources)


def _e621_rows(path: Path) -> tuple[str, list[str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        text = f.read()
    header, _, body = text.partition("\n")
    import csv
    import io

    rows = list(csv.reader(io.StringIO(body)))
    return header, rows


def _write_e621(path: Path, header: str, rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        f.write(header + "\n" + buf.getvalue())


def test_a_newer_full_dump_upserts_and_marks_removed(board_e621, tmp_path):
    dump = tmp_path / "dump"
    shutil.copytree(board_e621 / "db_export", dump)
    ws = make_workspace(tmp_path, dump)
    first = ingest(ws)
    assert next(s for s in first.sources if s.format == "e621").new == 120
    header, rows = _e621_rows(dump / "posts-2026-01-01.csv.gz")
    removed_id, changed_id = int(rows[5][0]), int(rows[6][0])
    rows[6][8] = rows[6][8] + " sparkle"  # tag_string: a moderator added a tag
    newest = [r for i, r in enumerate(rows) if i != 5]
    new_row = list(rows[7])
    new_row[0] = "999999"
    newest.append(new_row)
    _write_e621(dump / "posts-2026-02-01.csv.gz", header, newest)
    second = ingest(ws)
    posts = next(s for s in second.sources if s.format == "e621")
    assert (posts.new, posts.changed, posts.removed, posts.unchanged) == (1, 1, 1, 118)
    assert posts.skipped_files == 1  # the older snapshot no longer counts
    con = catalog(ws)
    assert con.execute("SELECT is_removed FROM posts WHERE post_id = ?", [removed_id]).fetchall() == [(True,)]
    assert con.execute("SELECT count(*) FROM posts WHERE is_removed").fetchall() == [(1,)]
    tags = {
        r[0]
        for r in con.execute("SELECT t.name FROM post_tags JOIN tags t USING (tag_id) WHERE post_id = ?", [changed_id]).fetchall()
    }
    assert "sparkle" in tags
    assert con.execute("SELECT dump_file FROM posts WHERE post_id = 999999").fetchall()[0][0].endswith("posts-2026-02-01.csv.gz")
    assert {r[0] for r in con.execute("SELECT snapshot_date::VARCHAR FROM dumps WHERE format = 'e621'").fetchall()} == {
        "2026-01-01",
        "2026-02-01",
    }


def test_a_full_dump_marks_removed_only_posts_of_its_own_format(tmp_path):
    """A 2017-style archive and a 2021-style dump of one board in one workspace: neither marks
    the other's posts removed; a newer 2021 dump that drops a post removes just that one."""

    def post(i: int, **tags) -> dict:
        return {k: v for k, v in GOOD.items() if not k.startswith("tag_string")} | {"id": i} | tags

    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    archive = [post(i, tags=[{"name": "from_2017", "category": "0"}]) for i in (1, 2, 3)]
    (old / "2017posts000000000000.json").write_text("".join(json.dumps(p) + "\n" for p in archive))
    (new / "posts000000000000.json").write_text(
        "".join(json.dumps(post(i, tag_string_general="from_2021")) + "\n" for i in (10, 11, 12))
    )
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(
        f'[[sources]]\npath = "{new}/posts*.json"\nformat = "danbooru2021"\n\n'
        f'[[sources]]\npath = "{old}/2017*.json"\nformat = "danbooru2017"\n'
    )
    first = ingest(ws)
    assert [(s.format, s.new, s.removed) for s in first.sources] == [("danbooru2021", 3, 0), ("danbooru2017", 3, 0)]
    (new / "posts000000000000.json").unlink()  # the newer dump replaces the older one
    (new / "posts000000000001.json").write_text(
        "".join(json.dumps(post(i, tag_string_general="from_2021")) + "\n" for i in (10, 12))
    )
    second = ingest(ws)
    assert [(s.format, s.removed) for s in second.sources] == [("danbooru2021", 1), ("danbooru2017", 0)]
    con = catalog(ws)
    assert con.execute("SELECT post_id FROM posts WHERE is_removed").fetchall() == [(11,)]


GOOD = {
    "id": 1,
    "created_at": "2020-01-02T03:04:05.000-05:00",
    "rating": "s",
    "md5": "a" * 32,
    "file_ext": "jpg",
    "image_width": 10,
    "image_height": 10,
    "tag_string_general": "red_star star_(symbol)",
    "tag_string_artist": "someone",
}


def test_bad_rows_go_to_rejects_and_good_rows_stay(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    lines = [
        json.dumps(GOOD).encode(),  # 1 good
        b'{"id": 2, "rating": "s", "created_at": "2020-01-01T00:00:00Z"',  # 2 malformed JSON
        b"\xff\xfe not utf-8 at all",  # 3 not UTF-8
        json.dumps({**GOOD, "id": 4, "rating": "x"}).encode(),  # 4 unknown rating
        json.dumps({**GOOD, "id": 5, "created_at": "yesterday"}).encode(),  # 5 odd timestamp
        json.dumps({**GOOD, "id": 6, "image_width": -3}).encode(),  # 6 impossible size
        json.dumps({k: v for k, v in GOOD.items() if k != "id"}).encode(),  # 7 no id
        b"",  # 8 blank: skipped
        json.dumps({**GOOD, "id": 9}).encode(),  # 9 good
        json.dumps({**GOOD, "id": 9, "score": 5, "tag_string_general": "blue_star"}).encode(),  # 10 same id: replaces 9
        b"[1, 2, 3]",  # 11 not an object
    ]
    (dump / "posts000000000000.json").write_bytes(b"\n".join(lines) + b"\n")
    ws = make_workspace(tmp_path, dump / "posts000000000000.json")
    report = ingest(ws)
    con = catalog(ws)
    assert [r[0] for r in con.execute("SELECT post_id FROM posts ORDER BY 1").fetchall()] == [1, 9]
    assert con.execute("SELECT score FROM posts WHERE post_id = 9").fetchall() == [(5,)]
    # its tags too: the replaced row's are gone, not merged in
    assert con.execute(
        "SELECT list(t.name ORDER BY t.name) FROM post_tags JOIN tags t USING (tag_id) WHERE post_id = 9"
    ).fetchall() == [(["blue_star", "someone"],)]
    rejects = {pos: reason for pos, reason in con.execute("SELECT position, reason FROM ingest_rejects").fetchall()}
    assert rejects[2].startswith("malformed JSON")
    assert rejects[3].startswith("invalid encoding")
    assert rejects[4] == "unknown rating 'x'"
    assert rejects[5] == "created_at 'yesterday' is not a timestamp"
    assert rejects[6] == "impossible size -3x10"
    assert rejects[7] == "row without id"
    assert rejects[9] == "duplicate id 9 (a later row replaces it)"
    assert rejects[11].startswith("malformed JSON")
    assert set(rejects) == {2, 3, 4, 5, 6, 7, 9, 11}
    assert report.rejects == 8


def test_e621_rows_with_the_wrong_column_count_are_rejected(board_e621, tmp_path):
    header, rows = _e621_rows(board_e621 / "db_export" / "posts-2026-01-01.csv.gz")
    path = tmp_path / "posts-2026-01-01.csv.gz"
    broken = rows[:3] + [rows[3][:10]] + rows[4:]
    _write_e621(path, header, broken)
    ws = make_workspace(tmp_path, path)
    ingest(ws)
    con = catalog(ws)
    assert con.execute("SELECT count(*) FROM posts").fetchall() == [(len(rows) - 1,)]
    (reason,) = con.execute("SELECT reason FROM ingest_rejects").fetchall()[0]
    assert "missing columns" in reason


def test_a_file_that_is_not_its_declared_format_is_one_clear_error(board_e621, tmp_path):
    """...and the failed run leaves the catalog exactly as the last good run left it."""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "posts000000000000.json").write_text(json.dumps(GOOD) + "\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    good = f'[[sources]]\npath = "{dump}/posts000000000000.json"\nformat = "danbooru2021"\n'
    (ws / "curate.toml").write_text(good)
    ingest(ws)
    before = catalog(ws).execute("SELECT * FROM posts").fetchall()
    posts = board_e621 / "db_export" / "posts-2026-01-01.csv.gz"
    (ws / "curate.toml").write_text(good + f'\n[[sources]]\npath = "{posts}"\nformat = "danbooru2021"\n')
    with pytest.raises(SourceError) as err:
        ingest(ws)
    assert str(err.value) == f"{posts}: declared danbooru2021 in curate.toml, but it looks like e621"
    assert catalog(ws).execute("SELECT * FROM posts").fetchall() == before
    assert sorted(p.name for p in ws.iterdir()) == [".curate.lock", "catalog.duckdb", "curate.toml"]  # no leftover copy


def test_empty_files_are_recorded_not_fatal(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "posts000000000000.json").write_text(json.dumps(GOOD) + "\n")
    (dump / "posts000000000001.json").write_text("")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "{dump}/posts*.json"\nformat = "danbooru2021"\n')
    ingest(ws)
    con = catalog(ws)
    assert con.execute("SELECT count(*) FROM posts").fetchall() == [(1,)]
    assert con.execute("SELECT reason FROM ingest_rejects").fetchall() == [("empty file",)]


def test_gzipped_jsonl_and_api_arrays(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    with gzip.open(dump / "posts000000000000.json.gz", "wt") as f:
        f.write(json.dumps(GOOD) + "\n")
    (dump / "api.json").write_text(json.dumps([{**GOOD, "id": 7, "media_asset": {}}, {**GOOD, "id": 8, "media_asset": {}}]))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(
        f'[[sources]]\npath = "{dump}/posts000000000000.json.gz"\nformat = "danbooru2021"\n\n'
        f'[[sources]]\npath = "{dump}/api.json"\nformat = "danbooru_api"\n'
    )
    ingest(ws)
    assert [r[0] for r in catalog(ws).execute("SELECT post_id FROM posts ORDER BY 1").fetchall()] == [1, 7, 8]


def test_real_alias_and_implication_files(shared_data, tmp_path):
    """The real Danbooru alias export canonicalises; e621's implication chains expand fully;
    inactive rows are ignored."""
    aliases = pl.read_csv(shared_data / "danbooru" / "tag_aliases.csv", infer_schema=False)
    active_names = set(aliases.filter(pl.col("status") == "active")["antecedent_name"])
    active = aliases.filter(pl.col("status") == "active").row(0, named=True)
    deleted = aliases.filter((pl.col("status") == "deleted") & ~pl.col("antecedent_name").is_in(active_names)).row(0, named=True)
    implications = pl.read_csv(shared_data / "e621" / "tag_implications.csv", infer_schema=False)
    parents: dict[str, set[str]] = {}
    for a, c in implications.filter(pl.col("status") == "active").select("antecedent_name", "consequent_name").iter_rows():
        parents.setdefault(a, set()).add(c)

    def closure(tag: str) -> set[str]:
        out, stack = set(), [tag]
        while stack:
            for p in parents.get(stack.pop(), ()):
                if p not in out:
                    out.add(p)
                    stack.append(p)
        return out - {tag}

    inactive = next(
        r
        for r in implications.filter(pl.col("status") != "active").iter_rows(named=True)
        if r["consequent_name"] not in closure(r["antecedent_name"]) | {r["antecedent_name"]}
    )
    dump = tmp_path / "dump"
    dump.mkdir()
    posts = [
        {**GOOD, "id": 1, "tag_string_general": f"{active['antecedent_name']} {deleted['antecedent_name']}"},
        {**GOOD, "id": 2, "tag_string_general": "fox"},
        {**GOOD, "id": 3, "tag_string_general": inactive["antecedent_name"]},
    ]
    (dump / "posts000000000000.json").write_text("\n".join(json.dumps(p) for p in posts) + "\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(
        f'[[sources]]\npath = "{dump}/posts000000000000.json"\nformat = "danbooru2021"\n\n'
        f'[[sources]]\npath = "{shared_data}/danbooru/tag_aliases.csv"\nformat = "aliases"\n\n'
        f'[[sources]]\npath = "{shared_data}/e621/tag_implications.csv"\nformat = "implications"\n'
    )
    ingest(ws)
    con = catalog(ws)

    def tags(pid: int) -> dict[str, str]:
        return dict(
            con.execute("SELECT t.name, origin FROM post_tags JOIN tags t USING (tag_id) WHERE post_id = ?", [pid]).fetchall()
        )

    assert {t for t, o in tags(1).items() if o == "dump"} == {active["consequent_name"], deleted["antecedent_name"], "someone"}
    fox = tags(2)
    assert fox["fox"] == "dump"
    assert {t for t, o in fox.items() if o == "implied"} == closure("fox")
    assert {"canine", "canid", "mammal"} <= closure("fox")
    got = tags(3)
    assert inactive["consequent_name"] not in got
    assert set(got) == {inactive["antecedent_name"], "someone"} | closure(inactive["antecedent_name"])


def test_sqlite_export_round_trips_through_ingest(board2021, tmp_path):
    from curation.export import export_sqlite
    from curation.select import select

    ws = make_workspace(tmp_path, board2021)
    ingest(ws)
    select(ws)
    counts = export_sqlite(ws, tmp_path / "sel.db")
    con = catalog(ws)
    selected = {r[0] for r in con.execute("SELECT post_id FROM selection").fetchall()}
    labels = {r[0] for r in con.execute("SELECT name FROM selected_tags").fetchall()}
    expected = {
        pid: {t for t in tags if t in labels}
        for pid, tags in con.execute(
            "SELECT post_id, list(t.name) FROM post_tags JOIN tags t USING (tag_id) GROUP BY post_id"
        ).fetchall()
        if pid in selected
    }
    assert counts["images"] == len(selected) and counts["tags"] == len(labels)
    ws2 = tmp_path / "ws2"
    init_workspace(ws2, [tmp_path / "sel.db"])
    assert "danbooru_sqlite" in (ws2 / "curate.toml").read_text()
    ingest(ws2)
    con2 = catalog(ws2)
    got = dict(con2.execute("SELECT post_id, list(t.name) FROM post_tags JOIN tags t USING (tag_id) GROUP BY post_id").fetchall())
    assert {pid: set(t) for pid, t in got.items()} == {pid: t for pid, t in expected.items() if t}
    assert con2.execute("SELECT count(*) FROM posts").fetchall() == [(len(selected),)]
    cols = "post_id, md5, rating, image_width, image_height, parent_id, is_deleted"
    assert (
        con2.execute(f"SELECT {cols} FROM posts ORDER BY 1").fetchall()
        == con.execute(f"SELECT {cols} FROM posts WHERE post_id IN (SELECT post_id FROM selection) ORDER BY 1").fetchall()
    )


def _reader_used(caplog) -> str:
    return "lines" if any("reading line by line" in r.getMessage() for r in caplog.records) else "fast"


@pytest.mark.parametrize("spoil", ["blank line", "malformed line", "not an object", "gzipped"])
def test_fast_and_careful_readers_agree(spoil, tmp_path, caplog):
    """A clean file goes through DuckDB's typed JSON reader; a file it cannot read exactly
    (a blank line shifts positions, a bad line stops it, gzip hides the line count) is read line
    by line. Both give the same posts, rejects at the same lines, and the same row hashes: the
    second ingest of the same posts finds every one unchanged."""
    caplog.set_level("INFO", logger="curation.ingest.ingest")
    posts = [
        json.dumps({**GOOD, "id": i, "score": i, "is_deleted": i % 3 == 0, "parent_id": i - 1 if i % 4 == 0 else None})
        for i in range(1, 21)
    ]
    posts[6] = json.dumps({k: v for k, v in GOOD.items() if k != "id"})  # line 7: no id
    posts[9] = json.dumps({**GOOD, "id": "ten"})  # line 10: an id that is not an integer
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "posts000000000000.json").write_text("\n".join(posts) + "\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "{dump}/posts*.json*"\nformat = "danbooru2021"\n')
    first = ingest(ws)
    assert _reader_used(caplog) == "fast"
    con = catalog(ws)
    clean = con.execute("SELECT * EXCLUDE (dump_file) FROM posts ORDER BY post_id").fetchall()
    clean_tags = con.execute("SELECT * FROM post_tags ORDER BY ALL").fetchall()
    assert con.execute("SELECT position, reason FROM ingest_rejects ORDER BY 1").fetchall() == [
        (7, "row without id"),
        (10, "id ten is not an integer"),
    ]
    con.close()
    assert first.sources[0].new == 18

    lines = list(posts)
    if spoil == "blank line":
        lines.insert(3, "")
    elif spoil == "malformed line":
        lines.insert(3, '{"id": 99, "rating": ')
    elif spoil == "not an object":
        lines.insert(3, "[99]")
    newer = dump / "posts000000000001.json"
    if spoil == "gzipped":
        newer = dump / "posts000000000001.json.gz"
        with gzip.open(newer, "wt") as f:
            f.write("\n".join(lines) + "\n")
    else:
        newer.write_text("\n".join(lines) + "\n")
    (dump / "posts000000000000.json").unlink()
    caplog.clear()
    second = ingest(ws)
    assert _reader_used(caplog) == ("fast" if spoil == "gzipped" else "lines")
    assert (second.sources[0].new, second.sources[0].changed, second.sources[0].unchanged) == (0, 0, 18)
    con = catalog(ws)
    assert con.execute("SELECT * EXCLUDE (dump_file) FROM posts ORDER BY post_id").fetchall() == clean
    assert con.execute("SELECT * FROM post_tags ORDER BY ALL").fetchall() == clean_tags
    shift = 0 if spoil == "gzipped" else 1
    rejects = con.execute("SELECT position, reason FROM ingest_rejects WHERE dump_file = ? ORDER BY 1", [str(newer)]).fetchall()
    expected = [(7 + shift, "row without id"), (10 + shift, "id ten is not an integer")]
    if spoil in ("malformed line", "not an object"):
        expected.insert(0, (4, "malformed JSON (not one JSON object on the line)"))
    assert rejects == expected


def test_a_lean_read_falls_back_to_every_column(tmp_path, caplog):
    """A file whose first post has per-category tag strings is read without the bare tag_string
    and tag objects; a later post with only those is still ingested with its tags (the file is
    read again with every column), and both reads hash a post alike: the same posts in a file
    that starts with tag objects (read in full at once) are all unchanged."""
    caplog.set_level("INFO", logger="curation.ingest.ingest")
    posts = [{**GOOD, "id": i, "tag_string_general": f"tag_{i} common"} for i in range(1, 6)]
    bare = {k: v for k, v in GOOD.items() if not k.startswith("tag_string")} | {"id": 6, "tag_string": "Bare_One common"}
    objects = {k: v for k, v in GOOD.items() if not k.startswith("tag_string")} | {
        "id": 7,
        "tags": [{"name": "obj_tag", "category": "0"}, {"name": "obj_artist", "category": "1"}],
    }
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "posts000000000000.json").write_text("\n".join(json.dumps(p) for p in [*posts, bare, objects]) + "\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "{dump}/posts*.json*"\nformat = "danbooru2021"\n')
    assert ingest(ws).sources[0].new == 7
    messages = [r.getMessage() for r in caplog.records]
    assert any("reading every column" in m for m in messages) and not any("line by line" in m for m in messages)
    con = catalog(ws)
    tags = dict(
        con.execute(
            "SELECT post_id, list(t.name ORDER BY t.name) FROM post_tags JOIN tags t USING (tag_id) GROUP BY post_id"
        ).fetchall()
    )
    con.close()
    assert tags[3] == ["common", "someone", "tag_3"]
    assert tags[6] == ["bare_one", "common"]
    assert tags[7] == ["obj_artist", "obj_tag"]

    (dump / "posts000000000000.json").unlink()
    (dump / "posts000000000001.json").write_text("\n".join(json.dumps(p) for p in [objects, *posts, bare]) + "\n")
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "{dump}/posts*.json*"\nformat = "danbooru_api"\n')
    caplog.clear()
    again = ingest(ws).sources[0]
    assert (again.new, again.changed, again.unchanged) == (0, 0, 7)
    assert not any("reading every column" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("content", [b"", b"one line", b"a\n", b"a\nb", b"\n\n", b"x" * (5 << 20) + b"\ny\n"])
def test_file_digest_counts_lines_and_hashes_every_byte(content, tmp_path, monkeypatch):
    """sha256 of the whole (mapped) file and its line count (a last line without a newline
    counts), an empty file and a 5 MB one included, across 1 MB windows; a gzipped file has no
    line count."""
    import hashlib

    from curation.ingest import files
    from curation.ingest.files import file_lines, file_sha256

    monkeypatch.setattr(files, "_WINDOW", 1 << 20)

    path = tmp_path / "f"
    path.write_bytes(content)
    assert file_sha256(path) == hashlib.sha256(content).hexdigest()
    assert file_lines(path) == content.count(b"\n") + (bool(content) and not content.endswith(b"\n"))
    path.write_bytes(gzip.compress(content))
    assert file_lines(path) is None


def test_sql_steps_take_named_parameters_in_any_statement(tmp_path, monkeypatch):
    """DuckDB binds parameters in a script's last statement only; Catalog.run gives each
    statement of a step the parameters it names."""
    from curation import catalog as catalog_module

    (tmp_path / "step.sql").write_text(
        "SET VARIABLE v = $a;\nCREATE TEMP TABLE t AS SELECT getvariable('v') + $b AS x;\nSELECT x, $a FROM t;"
    )
    cat = catalog_module.Catalog(None)
    monkeypatch.setattr(catalog_module, "SQL_DIR", tmp_path)
    assert cat.run("step", a=2, b=40).fetchall() == [(42, 2)]


def _posts_file(path: Path, ids: range) -> None:
    path.write_text("".join(json.dumps({**GOOD, "id": i}) + "\n" for i in ids))


def test_an_emptied_dump_file_is_refused_and_restoring_it_brings_nothing_back_wrongly(tmp_path):
    """An interrupted re-download must not remove posts for good; the restored bytes are ingested
    again because "unchanged" means unchanged since that path was last ingested."""
    dump = tmp_path / "dump"
    dump.mkdir()
    _posts_file(dump / "posts000000000000.json", range(1, 41))
    _posts_file(dump / "posts000000000001.json", range(41, 401))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "{dump}/posts*.json"\nformat = "danbooru2021"\n')
    ingest(ws)
    original = (dump / "posts000000000000.json").read_bytes()
    (dump / "posts000000000000.json").write_text("")  # one of two files emptied: 10% of the posts
    with pytest.raises(DumpShrank, match=r"posts000000000000.json: held 40 posts when last ingested and now 0.*40 posts"):
        ingest(ws)
    (dump / "posts000000000000.json").write_text(json.dumps({**GOOD, "id": 1}) + "\n")  # cut off after one line
    with pytest.raises(DumpShrank, match="held 40 posts when last ingested and now 1"):
        ingest(ws)
    assert catalog(ws).execute("SELECT count(*) FROM posts WHERE NOT is_removed").fetchall() == [(400,)]
    report = ingest(ws, allow_shrink=True)  # the operator says the dump really shrank
    assert report.sources[0].removed == 39
    (dump / "posts000000000000.json").write_bytes(original)  # and then restores it: not "unchanged"
    report = ingest(ws)
    assert report.sources[0].skipped_files == 0
    assert catalog(ws).execute("SELECT count(*) FROM posts WHERE NOT is_removed").fetchall() == [(400,)]


def test_a_full_dump_that_would_remove_most_posts_is_refused(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    _posts_file(dump / "posts-2026-01-01.json", range(1, 101))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "{dump}/posts-*.json"\nformat = "danbooru2021"\n')
    ingest(ws)
    _posts_file(dump / "posts-2026-02-01.json", range(1, 31))  # a newer snapshot with 30 of the 100
    with pytest.raises(DumpShrank, match="would mark 70 posts removed"):
        ingest(ws)
    assert ingest(ws, allow_shrink=True).sources[0].removed == 70


def test_rejects_of_a_file_are_those_of_its_last_read(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    path = dump / "posts000000000000.json"
    path.write_text(json.dumps(GOOD) + "\n{broken\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text(f'[[sources]]\npath = "{path}"\nformat = "danbooru2021"\n')
    ingest(ws)
    path.write_text(json.dumps(GOOD) + "\n{broken\n" + json.dumps({**GOOD, "id": 2}) + "\n")
    ingest(ws)
    assert catalog(ws).execute("SELECT count(*) FROM ingest_rejects").fetchall() == [(1,)]


def test_a_tags_source_that_is_not_a_tag_list_is_refused_and_bad_rows_rejected(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "posts000000000000.json").write_text(json.dumps(GOOD) + "\n")
    passwd = dump / "tags.csv"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    sources = f'[[sources]]\npath = "{dump}/posts000000000000.json"\nformat = "danbooru2021"\n\n'
    sources += f'[[sources]]\npath = "{passwd}"\nformat = "tags"\n'
    (ws / "curate.toml").write_text(sources)
    with pytest.raises(SourceError, match=r"tags.csv: not a tag list: 2 of its 2 rows are not tags \(no numeric category"):
        ingest(ws)
    passwd.write_text("red_star,0,10,\nstar_(symbol),0,5,\nsome one,1,3,\n")  # one name with a space
    ingest(ws)
    con = catalog(ws)
    assert con.execute("SELECT reason FROM ingest_rejects").fetchall() == [("a space or control character in the name",)]
    assert con.execute("SELECT count(*) FROM tags WHERE name = 'some one'").fetchall() == [(0,)]


def test_values_that_are_not_what_their_field_says_are_rejected_not_coerced(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    rows = [
        {**GOOD, "id": 1},
        {**GOOD, "id": 1.5},  # once stored as post 2
        {**GOOD, "id": 3, "is_deleted": "maybe"},  # once read as false
        {**GOOD, "id": 4, "tag_string_general": ["a", "b"]},  # once a tag named ["a","b"]
        {**GOOD, "id": 5, "tag_string_general": "a\x01b"},  # once moved b to the next category
        {**GOOD, "id": 6, "is_deleted": "true"},
    ]
    (dump / "posts000000000000.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ws = make_workspace(tmp_path, dump / "posts000000000000.json")
    ingest(ws)
    con = catalog(ws)
    assert con.execute("SELECT post_id, is_deleted FROM posts ORDER BY 1").fetchall() == [(1, False), (6, True)]
    assert con.execute("SELECT position, reason FROM ingest_rejects ORDER BY 1").fetchall() == [
        (2, "id 1.5 is not an integer"),
        (3, "is_deleted 'maybe' is not true or false"),
        (4, "a tag string that is a JSON list or object, not text"),
        (5, "a control byte 0x01 in a tag string"),
    ]


def test_a_byte_order_mark_and_a_gzip_cut_short_lose_no_good_row(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    lines = "".join(json.dumps({**GOOD, "id": i}) + "\n" for i in range(1, 3001)).encode()
    first_three = b"".join(lines.splitlines(keepends=True)[:3])
    (dump / "posts000000000000.json").write_bytes(b"\xef\xbb\xbf" + first_three)
    packed = gzip.compress(lines)
    (dump / "posts000000000001.json.gz").write_bytes(packed[: len(packed) * 2 // 3])
    for name in ("posts000000000000.json", "posts000000000001.json.gz"):
        ws = make_workspace(tmp_path, dump / name)
        ingest(ws, allow_shrink=True)
        con = catalog(ws)
        kept, rejects = (
            con.execute("SELECT count(*) FROM posts").fetchall()[0][0],
            con.execute("SELECT * FROM ingest_rejects").fetchall(),
        )
        con.close()
        if name.endswith(".gz"):
            assert 1000 < kept < 3000
            assert rejects == [
                (str(dump / name), kept + 1, f"the gzip stream ends early (the file is cut short): {kept} whole lines read", "")
            ]
        else:
            assert kept == 3 and rejects == []


def test_an_unclosed_quote_in_an_e621_csv_costs_records_not_the_file(board_e621, tmp_path):
    src = board_e621 / "db_export" / "posts-2026-01-01.csv.gz"
    records = gzip.decompress(src.read_bytes()).decode().split("\n")
    header, first = records[0], records[1]
    first_id = first.split(",")[0]
    bad_quote = first.replace(",s,", ',"s,', 1).replace(first_id, "999001", 1)
    short = ",".join(first.split(",")[:4]).replace(first_id, "999002", 1)  # id, uploader, time, md5
    counts = {}
    for name, lines in (("plain", records), ("short", [header, short, *records[1:]]), ("quote", [*records, bad_quote])):
        dump = tmp_path / name
        dump.mkdir()
        (dump / "posts-2026-01-01.csv.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
        shutil.copy(board_e621 / "db_export" / "tags-2026-01-01.csv.gz", dump / "tags-2026-01-01.csv.gz")
        ws = make_workspace(tmp_path / name, dump / "posts-2026-01-01.csv.gz", dump / "tags-2026-01-01.csv.gz")
        report = ingest(ws)
        counts[name] = (report.sources[-1].rejects, catalog(ws).execute("SELECT count(*) FROM posts").fetchall()[0][0])

    assert counts["short"] == (counts["plain"][0] + 1, counts["plain"][1])  # one short record: one reject, not 24
    assert counts["quote"][1] == counts["plain"][1] and counts["quote"][0] == counts["plain"][0] + 1
