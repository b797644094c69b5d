"""The report: every section from a workspace that ran every stage, opened in headless Chromium
(sections render, no image is broken, a screenshot is kept), and notes for stages not yet run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from curation import pipeline
from curation.report import build_report
from curation.report.build import SECTIONS
from curation.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("CURATE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium and chromium-driver)")
        pytest.skip("headless Chromium not installed here (apt-get install chromium chromium-driver)")
    return found


def open_in_chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def full_ws(built_ws):
    return built_ws


@pytest.mark.slow
def test_every_section_renders_in_chromium_with_no_broken_image(full_ws, tmp_path):
    result = build_report(full_ws)
    assert result.sections == list(SECTIONS) and not result.empty and result.images > 5
    page = result.path
    html = page.read_text()
    assert 'class="sortable"' in html and re.search(r"report_files/precision_recall-\w+\.png", html)
    dom = open_in_chromium(page, tmp_path, "--virtual-time-budget=10000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    assert 'data-broken-images="0"' in body, body
    assert f'data-sections="{",".join(SECTIONS)}"' in body
    images = int(re.search(r'data-images="(\d+)"', body).group(1))
    assert images == result.images
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    taken = open_in_chromium(page, tmp_path, "--window-size=1200,4000", f"--screenshot={shot}")
    assert taken.returncode == 0 and shot.stat().st_size > 10_000


def test_sections_of_stages_not_run_say_what_to_run(board2021, tmp_path):
    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    for name in ("ingest", "select"):
        pipeline.run_stage(ws, name)
    result = build_report(ws)
    assert result.sections == ["since", "funnel", "tags"]
    assert result.empty == ["duplicates", "splits", "tagger", "suggestions"]
    html = result.path.read_text()
    assert "Not available yet: run `curate train`" in html and any((ws / "out" / "report_files").glob("funnel-*.png"))


@pytest.mark.slow
def test_with_truth_the_report_scores_the_queue_beside_the_tagger(built_ws, board2021, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(built_ws, ws, ignore=shutil.ignore_patterns(".curate.lock", "decisions.sqlite*"))
    page = build_report(ws, truth=board2021 / "truth").path.read_text()
    section = page.split('id="suggestions"')[1]
    assert "tagger&#x27;s plain-ranking AP" in section or "tagger's plain-ranking AP" in section
    assert "about" in section and "right by their estimates" in section
    assert "plain-ranking" not in build_report(ws).path.read_text()  # without truth: no scoring


@pytest.mark.slow
def test_since_the_last_rebuild_counts_what_changed(built_ws, tmp_path):
    from curation.dedupe import run_dedupe
    from curation.suggest import load_suggestions, review, run_suggest

    ws = tmp_path / "ws"
    shutil.copytree(built_ws, ws, ignore=shutil.ignore_patterns(".curate.lock", "decisions.sqlite*"))
    assert run_dedupe(ws).since_last == {"new_groups": 0, "gone_groups": 0}  # the same posts: the same groups
    first = load_suggestions(ws).row(0, named=True)
    review(ws, accept=[f"{first['post_id']}:{first['tag']}:{first['action']}"], reject=[], moderator="alice")
    report = run_suggest(ws)
    assert report.since_last["resolved"] == 1
    from curation.pipeline import record, summarise

    record(ws, "suggest", "test", 1.0, summarise(report))  # as the flow records a stage it ran
    page = build_report(ws)
    assert page.sections[0] == "since"
    section = page.path.read_text().split('id="since"')[1].split("</section>")[0]
    assert "1 resolved by moderators" in section and f"+{report.since_last['added']} added" in section
