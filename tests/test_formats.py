"""Each synthetic dump parses with plain json/csv readers into its real format's columns,
with the real quirks planted and recorded."""

from __future__ import annotations

import csv
import gzip
import json

import polars as pl

from curation.synth.writers import DANBOORU_RELATION_COLUMNS, E621_POST_COLUMNS, E621_RELATION_COLUMNS

DANBOORU2021_COLUMNS = {
    "id",
    "created_at",
    "updated_at",
    "md5",
    "file_ext",
    "file_size",
    "image_width",
    "image_height",
    "rating",
    "has_children",
    "is_deleted",
    "is_banned",
    "is_flagged",
    "is_pending",
    "score",
    "fav_count",
    "tag_string",
    "tag_string_general",
    "tag_string_artist",
    "tag_string_copyright",
    "tag_string_character",
    "tag_string_meta",
}


def test_danbooru2021_jsonl_typed_values_and_quirks(board2021):
    files = sorted((board2021 / "metadata").glob("posts*.json"))
    assert [f.name for f in files][:2] == ["posts000000000000.json", "posts000000000001.json"]
    rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    with_id = [r for r in rows if "id" in r]
    assert all(DANBOORU2021_COLUMNS - {"id"} <= r.keys() for r in rows)
    assert all(isinstance(r["id"], int) and isinstance(r["is_deleted"], bool) for r in with_id)
    assert {r["rating"] for r in with_id} <= {"g", "s", "q", "e"} and "g" in {r["rating"] for r in with_id}
    assert any("parent_id" not in r for r in with_id) and any(r.get("parent_id") for r in with_id)
    assert any("pixiv_id" not in r for r in with_id)
    for r in with_id:
        per_cat = [t for c in ("general", "artist", "copyright", "character", "meta") for t in r[f"tag_string_{c}"].split()]
        assert sorted(per_cat) == sorted(r["tag_string"].split())
    quirks = pl.read_parquet(board2021 / "truth" / "dump_quirks.parquet")
    no_id = quirks.filter(pl.col("quirk") == "row without id")
    assert no_id.height == len(rows) - len(with_id) >= 1
    for q in no_id.iter_rows(named=True):
        line = (board2021 / q["file"]).read_text().splitlines()[q["line"] - 1]
        assert "id" not in json.loads(line)


def test_danbooru_tags_and_relations_files(board2021):
    tags = [json.loads(line) for line in (board2021 / "metadata" / "tags000000000000.json").read_text().splitlines()]
    assert {"id", "name", "post_count", "category"} <= tags[0].keys()
    assert {t["category"] for t in tags} == {0, 1, 3, 4, 5}
    for name in ("tag_aliases.csv", "tag_implications.csv"):
        with open(board2021 / "metadata" / name, newline="") as f:
            rows = list(csv.DictReader(f))
        assert tuple(rows[0]) == DANBOORU_RELATION_COLUMNS
        assert {"active"} < {r["status"] for r in rows}


def test_danbooru2017_strings_utc_and_tag_objects(board2017):
    files = sorted((board2017 / "metadata").glob("2017*.json"))
    rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 120
    for r in rows:
        assert isinstance(r["id"], str) and r["id"].isdigit()
        assert r["created_at"].endswith(" UTC")
        assert r["rating"] in {"s", "q", "e"}
        assert r["parent_id"].isdigit()
        assert all(set(t) == {"id", "name", "category"} and all(isinstance(v, str) for v in t.values()) for t in r["tags"])
        assert isinstance(r["pools"], list) and isinstance(r["favs"], list)
    assert any(r["parent_id"] == "0" for r in rows) and any(r["parent_id"] != "0" for r in rows)


def test_e621_csv_gz_booleans_and_multiline_fields(board_e621):
    export = board_e621 / "db_export"
    (posts_file,) = export.glob("posts-*.csv.gz")
    with gzip.open(posts_file, "rt", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == E621_POST_COLUMNS
        rows = list(reader)
    assert len(rows) == 120
    assert {r["is_deleted"] for r in rows} <= {"t", "f"} and {r["rating"] for r in rows} <= {"s", "q", "e"}
    assert any("\n" in r["description"] and '"' in r["description"] for r in rows)
    assert any(r["parent_id"] == "" for r in rows)
    with gzip.open(next(export.glob("tags-*.csv.gz")), "rt", newline="") as f:
        tags = list(csv.DictReader(f))
    assert {"5", "8"} <= {t["category"] for t in tags}  # species and lore
    with gzip.open(next(export.glob("tag_implications-*.csv.gz")), "rt", newline="") as f:
        impl = list(csv.DictReader(f))
    assert tuple(impl[0]) == E621_RELATION_COLUMNS
    assert ("fox", "canine") in {(r["antecedent_name"], r["consequent_name"]) for r in impl if r["status"] == "active"}
    multi = pl.read_parquet(board_e621 / "truth" / "dump_quirks.parquet").filter(pl.col("quirk") == "multi-line field")
    assert multi.height >= 1
