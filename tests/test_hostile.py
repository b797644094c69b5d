"""A board whose tags are named as real boards name them at their worst (`:d`, `re:zero`, `<3`,
`>_<`, `o'neill`, quotes, backslashes, Rich markup, `$...$`) through every stage, the review and
the report: nothing crashes, every name round-trips, the page shows them as text."""

from __future__ import annotations

import csv
import html
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from conftest import set_config

from curation import pipeline
from curation.decisions import read as read_decisions
from curation.suggest import review
from curation.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = [":d", ":o", "re:zero", "<3", ">_<", "o'neill", '"quoted"', "back\\slash", "[/b]", "[bold]x", "$x$", ";)"]


def rename_tags(board: Path, mapping: dict[str, str]) -> None:
    """Rename tags everywhere the board's metadata names them (posts, tag list, relations)."""
    meta = board / "metadata"
    for path in sorted(meta.glob("posts*.json")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for row in rows:
            for key in [k for k in row if k.startswith("tag_string")]:
                if isinstance(row[key], str):
                    row[key] = " ".join(mapping.get(t, t) for t in row[key].split(" "))
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tags = meta / "tags000000000000.json"
    rows = [json.loads(line) for line in tags.read_text().splitlines() if line.strip()]
    tags.write_text("".join(json.dumps({**r, "name": mapping.get(r["name"], r["name"])}) + "\n" for r in rows))
    for name in ("tag_aliases.csv", "tag_implications.csv"):
        with open(meta / name, newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            for key in ("antecedent_name", "consequent_name"):
                row[key] = mapping.get(row[key], row[key])
        with open(meta / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
            writer.writeheader()
            writer.writerows(rows)


@pytest.fixture(scope="module")
def hostile_ws(board2021, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    board = tmp_path_factory.mktemp("hostile") / "board"
    shutil.copytree(board2021, board)
    counts = Counter()
    for path in (board / "metadata").glob("posts*.json"):
        for line in path.read_text().splitlines():
            if line.strip():
                counts.update((json.loads(line).get("tag_string_general") or "").split())
    mapping = dict(zip([t for t, _ in counts.most_common(len(HOSTILE))], HOSTILE))
    rename_tags(board, mapping)
    ws = board.parent / "ws"
    init_workspace(ws, [board])
    set_config(ws, embed={"image_size": 64}, tagger={"folds": 2, "epochs": 3}, select={"min_tag_count": 3})
    for name in pipeline.STAGE_NAMES:
        pipeline.run_stage(ws, name)
    return ws, mapping


@pytest.mark.slow
def test_hostile_names_survive_every_stage(hostile_ws):
    ws, mapping = hostile_ws
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    stored = {r[0] for r in con.execute("SELECT name FROM tags WHERE post_count > 0").fetchall()}
    labels = {r[0] for r in con.execute("SELECT name FROM selected_tags").fetchall()}
    con.close()
    assert set(HOSTILE) <= stored  # each name exactly as written, lower case
    assert set(HOSTILE) <= labels
    suggestions = json.loads((ws / "out" / "suggestions.json").read_text())["suggestions"]
    assert suggestions  # the queue is built over them
    manifest_tags = (ws / "out" / "splits" / "selected_tags.csv").read_text()
    assert all(name.replace('"', '""') in manifest_tags for name in HOSTILE if '"' not in name)


@pytest.mark.slow
def test_hostile_names_can_be_reviewed(hostile_ws):
    ws, _ = hostile_ws
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    post = con.execute(
        "SELECT post_id FROM selection WHERE post_id NOT IN "
        "(SELECT post_id FROM post_tags JOIN tags USING (tag_id) WHERE name IN (':d', '<3')) LIMIT 1"
    ).fetchall()[0][0]
    con.close()
    review(ws, accept=[f"{post}::d:add"], reject=[f"{post}:<3:add"], moderator="m")
    done = subprocess.run(
        [sys.executable, "-m", "curation.cli", "review", str(ws), "--accept", f"{post}:[/b]:add", "--note", "[red]x"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {(t, a, d) for p, t, a, d, *_ in read_decisions(ws) if p == post} >= {
        (":d", "add", "accept"),
        ("<3", "add", "reject"),
        ("[/b]", "add", "accept"),
    }


@pytest.mark.slow
def test_hostile_names_are_text_in_the_report_and_the_console(hostile_ws):
    ws, _ = hostile_ws
    set_config(ws, select={"require_tags": ["[/b]"], "drop_tags": ["$x$"]})  # markup and mathtext in filter names
    done = subprocess.run([sys.executable, "-m", "curation.cli", "select", str(ws)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "[/b]" in done.stdout
    done = subprocess.run([sys.executable, "-m", "curation.cli", "report", str(ws)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    page = (ws / "out" / "report.html").read_text()
    assert html.escape("<3") in page or html.escape(">_<") in page
    assert "<3<" not in page and ">_<<" not in page
