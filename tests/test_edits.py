"""curate export-edits: accepted decisions in each board's format, against golden files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main
from curation.decisions import record
from curation.edits import FORMATS, export_edits
from curation.ingest import ingest
from curation.workspace import init_workspace

GOLDEN = Path(__file__).parent / "golden"
POST = {"created_at": "2020-01-02T03:04:05Z", "rating": "s", "file_ext": "png", "image_width": 64, "image_height": 64}
TAGS = {1: "cat_ear solo", 2: "solo smile", 3: "animal_ears hat", 4: "solo <3"}
DECISIONS = [  # (post, tag, action, decision, moderator, decided_at, note)
    (1, "hat", "add", "accept", "alice", "2026-12-01 10:00:00.000000", ""),
    (1, "smile", "remove", "reject", "alice", "2026-12-01 10:01:00.000000", ""),
    (2, "nekomimi", "add", "accept", "bob", "2026-12-01 10:02:00.000000", "by the old name"),  # -> cat_ears
    (2, "animal_ears", "add", "accept", "bob", "2026-12-01 10:03:00.000000", ""),  # implied by cat_ears: left out
    (2, "smile", "remove", "accept", "bob", "2026-12-01 10:04:00.000000", ""),
    (3, "hat", "remove", "accept", "alice", "2026-12-01 10:05:00.000000", "bulk"),
    (4, "<3", "remove", "accept", "alice", "2026-12-01 10:06:00.000000", ""),
]


@pytest.fixture()
def ws(tmp_path) -> Path:
    dump = tmp_path / "dump"
    dump.mkdir()
    rows = [{**POST, "id": i, "md5": f"{i:032x}", "tag_string_general": t, "tag_string_artist": "x"} for i, t in TAGS.items()]
    (dump / "posts000000000000.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (dump / "tag_aliases.csv").write_text(
        "antecedent_name,consequent_name,status\nnekomimi,cat_ear,active\ncat_ear,cat_ears,active\n"
    )
    (dump / "tag_implications.csv").write_text("antecedent_name,consequent_name,status\ncat_ears,animal_ears,active\n")
    ws = tmp_path / "ws"
    init_workspace(ws, [dump / "posts000000000000.json", dump / "tag_aliases.csv", dump / "tag_implications.csv"])
    ingest(ws)
    record(ws, DECISIONS)
    return ws


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_matches_its_golden_file(ws, fmt):
    text = export_edits(ws, fmt, record=False).text
    golden = GOLDEN / f"edits.{fmt}"
    assert text == golden.read_text(encoding="utf-8"), text


def test_an_export_is_recorded_and_the_next_holds_only_newer_decisions(ws, tmp_path):
    first = export_edits(ws, "csv", out=tmp_path / "a.csv")
    assert first.decisions == 6 and (tmp_path / "a.csv").exists()
    assert export_edits(ws, "csv").decisions == 0  # nothing new since
    record(ws, [(4, "hat", "add", "accept", "carol", "2026-12-02 09:00:00.000000", "")])
    again = export_edits(ws, "csv")
    assert again.decisions == 1 and "4,hat,add,carol" in again.text
    assert export_edits(ws, "danbooru").decisions == 7  # another format keeps its own record
    since = export_edits(ws, "csv", since="2026-12-01T10:04:30", record=False)
    assert since.decisions == 3


def test_bur_lines_and_requests_are_chunked(ws):
    import curation.edits as edits

    record(ws, [(p, "solo", "remove", "accept", "m", f"2026-12-03 00:00:{p:02d}.000000", "") for p in (1, 2, 4)])
    old = edits.BUR_IDS, edits.BUR_LINES
    edits.BUR_IDS, edits.BUR_LINES = 2, 2
    try:
        text = export_edits(ws, "bur", record=False).text
    finally:
        edits.BUR_IDS, edits.BUR_LINES = old
    requests = text.split("\n\n")
    assert all(len(r.strip().splitlines()) <= 2 for r in requests) and len(requests) >= 2
    assert "mass update id:1,2 -> -solo" in text and "mass update id:4 -> -solo" in text


def test_the_command_writes_a_file_and_refuses_a_bad_time(ws, tmp_path):
    result = CliRunner().invoke(main, ["export-edits", str(ws), "--format", "e621", "--out", str(tmp_path / "e.jsonl")])
    assert result.exit_code == 0, result.output
    assert "4 posts" in result.output
    bad = CliRunner().invoke(main, ["export-edits", str(ws), "--format", "csv", "--since", "last week"])
    assert bad.exit_code == 1 and "not a time" in bad.output
