"""Faults a careless operator or a hostile dump brings: paths out of the images folder, pictures
that exhaust memory, two commands at once, kill -9 mid-stage, damaged state files."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import catalog_rows as rows
from conftest import set_config
from PIL import Image

from curation.config import load_config
from curation.decisions import read as read_decisions
from curation.errors import ConfigError, DamagedFile, WorkspaceLocked
from curation.images import inspect_file, run_images
from curation.ingest import ingest
from curation.lock import workspace_lock
from curation.select import select
from curation.suggest import review
from curation.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[1]
POST = {"created_at": "2020-01-02T03:04:05Z", "rating": "s", "file_ext": "png", "image_width": 8, "image_height": 8}


def curate(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curation.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=300, **kwargs
    )


@pytest.fixture()
def flat_ws(tmp_path) -> Path:
    """A board whose files are named by md5 (layout flat_md5), with dump md5s that try to leave the folder."""
    images = tmp_path / "images"
    images.mkdir()
    outside = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(outside)
    good = "0123456789abcdef0123456789abcdef"
    Image.new("RGB", (8, 8), (10, 200, 10)).save(images / f"{good}.png")
    (images / "link.png").symlink_to(outside)
    md5s = {1: good, 2: str(outside.with_suffix("")), 3: "../secret", 4: "link", 5: good.upper()}
    dump = tmp_path / "dump"
    dump.mkdir()
    lines = [json.dumps({**POST, "id": i, "md5": m, "tag_string_general": "solo"}) for i, m in md5s.items()]
    (dump / "posts000000000000.json").write_text("\n".join(lines) + "\n")
    ws = tmp_path / "ws"
    init_workspace(ws, [dump / "posts000000000000.json"])
    config = load_config(ws)
    source = config.sources[0].model_copy(update={"images": images})
    from curation.config import write_config

    write_config(ws, config.model_copy(update={"sources": [source]}))
    set_config(ws, images={"layout": "flat_md5"})
    ingest(ws)
    select(ws)
    return ws


def test_dump_md5s_never_lead_out_of_the_images_folder(flat_ws):
    run_images(flat_ws)
    status = {p: (s, e) for p, s, e in rows(flat_ws, "SELECT post_id, status, error FROM images")}
    assert status[1][0] == "ok" and status[5][0] == "ok"  # upper-case hex is still an md5
    for post in (2, 3, 4):
        assert status[post] == ("missing", status[post][1]) and "32 hex characters" in status[post][1]
    assert rows(flat_ws, "SELECT count(*) FROM images WHERE path LIKE '%secret%'") == [(0,)]


def test_an_images_folder_that_does_not_exist_is_named(flat_ws, tmp_path):
    config = load_config(flat_ws)
    from curation.config import write_config

    write_config(
        flat_ws, config.model_copy(update={"sources": [config.sources[0].model_copy(update={"images": tmp_path / "nope"})]})
    )
    with pytest.raises(ConfigError, match=r"images = '.*nope': no such folder"):
        run_images(flat_ws)


def test_a_picture_that_exhausts_memory_gets_a_status_not_a_crash(tmp_path):
    Image.new("L", (2_000_000, 1)).save(tmp_path / "sliver.png")
    result = inspect_file(tmp_path / "sliver.png", 89_478_485)
    assert result.status == "bomb" and "too thin" in result.error


def test_a_second_writer_refuses_with_the_holders_pid_and_command(flat_ws):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from curation.lock import workspace_lock\n"
         "with workspace_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", str(flat_ws)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        done = curate("select", str(flat_ws))
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and f"locked by PID {holder.pid}" in done.stderr
        with pytest.raises(WorkspaceLocked, match=f"PID {holder.pid}"):
            with workspace_lock(flat_ws):
                pass
        # a review is not a catalog writer: it is recorded while the lock is held
        done = curate("review", str(flat_ws), "--accept", "1:solo:remove", "--moderator", "m")
        assert done.returncode == 0, done.stderr
        assert [r[:4] for r in read_decisions(flat_ws)] == [(1, "solo", "remove", "accept")]
    finally:
        holder.kill()
        holder.wait()
    with workspace_lock(flat_ws):  # gone with its holder (kill -9)
        pass


def test_a_refusal_names_a_holder_that_has_just_taken_the_lock(tmp_path):
    """Two commands started together: the one that gets the lock writes its name a moment after
    taking it. The other, refused in that moment, waits for the name rather than saying
    "another process"; and when the holder lets go in that moment, it takes the lock."""
    import fcntl
    import threading

    lock_file = tmp_path / ".curate.lock"

    def hold_nameless_then(act):
        handle = open(lock_file, "a+")  # noqa: SIM115
        fcntl.flock(handle, fcntl.LOCK_EX)  # held, its name not yet written
        handle.truncate(0)
        timer = threading.Timer(0.3, act, (handle,))
        timer.start()
        return handle, timer

    def write_name(handle):
        handle.write(json.dumps({"pid": 424242, "command": "curate ingest ws", "since": "now"}))
        handle.flush()

    handle, timer = hold_nameless_then(write_name)
    try:
        with pytest.raises(WorkspaceLocked, match="locked by PID 424242"):
            with workspace_lock(tmp_path):
                pass
    finally:
        timer.join()
        handle.close()

    handle, timer = hold_nameless_then(lambda h: fcntl.flock(h, fcntl.LOCK_UN))
    try:
        with workspace_lock(tmp_path):  # the holder let go while the name was awaited
            assert json.loads(lock_file.read_text())["pid"] == os.getpid()
    finally:
        timer.join()
        handle.close()


def test_lock_wait_waits_for_the_holder(flat_ws):
    """The holder keeps the lock until the waiting command has said it waits (no race with a
    slow start under load), then lets go: the command goes on and succeeds."""
    set_config(flat_ws, runner={"lock_wait": 60.0})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from curation.lock import workspace_lock\n"
         "with workspace_lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.readline()", str(flat_ws)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        waiter = subprocess.Popen(
            [sys.executable, "-m", "curation.cli", "select", str(flat_ws)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        said = ""
        while "waiting for" not in said and (line := waiter.stderr.readline()):
            said += line
        assert "waiting for" in said and f"PID {holder.pid}" in said
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert waiter.wait(timeout=300) == 0
    finally:
        holder.kill()
        holder.wait()


def test_reviews_during_a_stage_are_kept_and_seen_by_the_next(flat_ws):
    """A decision made while a stage works on its copy of the catalog reaches the catalog later."""
    from curation.catalog import staged_catalog

    with staged_catalog(flat_ws) as cat:
        review(flat_ws, accept=["2:solo:remove"], reject=[], moderator="m")
        cat.con.execute("SELECT 1").fetchall()
    assert [r[:3] for r in read_decisions(flat_ws)] == [(2, "solo", "remove")]
    select(flat_ws)
    assert rows(flat_ws, "SELECT post_id, tag, decision FROM decisions") == [(2, "solo", "accept")]


def test_tags_with_colons_can_be_reviewed_and_a_decisions_file_read(flat_ws, tmp_path):
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("post_id,tag,action,decision,note\n3,SOLO,add,reject,looks fine\n")
    recorded, _ = review(flat_ws, accept=["1:solo:remove"], reject=[], moderator="m", decision_file=decisions)
    assert recorded == 2
    assert sorted(r[:4] for r in read_decisions(flat_ws)) == [(1, "solo", "remove", "accept"), (3, "solo", "add", "reject")]
    from curation.suggest.review import parse_item

    assert parse_item("1407::d:add") == (1407, ":d", "add")
    assert parse_item("1407::d") == (1407, ":d", None)
    assert parse_item("12:re:zero") == (12, "re:zero", None)
    assert parse_item("12:re:zero:remove") == (12, "re:zero", "remove")


def test_a_damaged_catalog_is_named_and_left_as_it_is(flat_ws):
    path = flat_ws / "catalog.duckdb"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    cut = path.read_bytes()
    with pytest.raises(DamagedFile, match="catalog.duckdb: the catalog"):
        select(flat_ws)
    with pytest.raises(DamagedFile):
        ingest(flat_ws)
    assert path.read_bytes() == cut
    done = curate("select", str(flat_ws))
    assert done.returncode == 1 and "restore it from a backup" in done.stderr and done.stderr.count("\n") == 1


def test_a_damaged_review_database_is_named(flat_ws):
    (flat_ws / "out").mkdir(exist_ok=True)
    (flat_ws / "out" / "review.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x07" * 300)
    with pytest.raises(DamagedFile, match="review.sqlite: the review database"):
        select(flat_ws)  # every catalog writer folds moderators' rows in first


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["ingest", "select", "images"])
def test_kill_9_mid_stage_leaves_the_workspace_as_before_and_the_rerun_resumes(board2021, tmp_path, stage):
    """Killed at several moments, a stage leaves its table empty or whole, never partial; the
    rerun ends where an uninterrupted run does."""
    clean = tmp_path / "clean"
    init_workspace(clean, [board2021])
    ingest(clean)
    if stage in ("select", "images"):
        select(clean)
    if stage == "images":
        run_images(clean)
    table = {"ingest": "posts", "select": "selection", "images": "images"}[stage]
    expected = rows(clean, f"SELECT count(*) FROM {table}")[0][0]
    for k, delay in enumerate((0.8, 1.6, 2.4)):
        ws = tmp_path / f"ws{k}"
        init_workspace(ws, [board2021])
        if stage in ("select", "images"):
            ingest(ws)
        if stage == "images":
            select(ws)
        child = subprocess.Popen([sys.executable, "-m", "curation.cli", "-q", stage, str(ws)], cwd=ROOT)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        if (ws / "catalog.duckdb").exists():  # a table the stage had not made yet is as before: absent
            [(made,)] = rows(ws, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])
            assert (rows(ws, f"SELECT count(*) FROM {table}")[0][0] if made else 0) in (0, expected)
        done = curate(stage, str(ws))
        assert done.returncode == 0, done.stderr
        assert not (ws / "stage.duckdb").exists()
        assert rows(ws, f"SELECT count(*) FROM {table}")[0][0] == expected


def test_decisions_journal_survives_two_writers_at_once(flat_ws):
    """Two processes recording decisions together: every decision is kept."""
    script = (
        "import sys; from curation.decisions import record\n"
        "for i in range(100):\n"
        "    record(sys.argv[1], [(int(sys.argv[2]) * 1000 + i, 'solo', 'add', 'accept', 'm', None, '')])"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(flat_ws), str(k)], cwd=ROOT) for k in (1, 2)]
    assert [p.wait() for p in procs] == [0, 0]
    assert len(read_decisions(flat_ws)) == 200
    with sqlite3.connect(flat_ws / "decisions.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    os.sync()


def test_pool_workers_end_with_their_parent_after_kill_9(tmp_path):
    script = (
        "import os, time\n"
        "from curation.processes import worker_pool\n"
        "if __name__ == '__main__':\n"
        "    pool = worker_pool(1)\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    time.sleep(60)\n"
    )
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{worker}/stat") as f:
            if f.read().split()[2] == "Z":  # exited, waiting to be reaped by init
                return
        time.sleep(0.2)
    pytest.fail(f"worker {worker} outlived its killed parent")


def _copy_built(built_ws: Path, tmp_path: Path) -> Path:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(built_ws, ws, ignore=shutil.ignore_patterns(".curate.lock"))
    return ws


@pytest.mark.slow
def test_kill_9_mid_suggest_keeps_the_queue_and_every_decision(built_ws, tmp_path):
    ws = _copy_built(built_ws, tmp_path)
    before = rows(ws, "SELECT post_id, tag, action FROM suggestions ORDER BY rank")
    first = before[0]
    review(ws, accept=[f"{first[0]}:{first[1]}:{first[2]}"], reject=[], moderator="m")
    child = subprocess.Popen([sys.executable, "-m", "curation.cli", "-q", "suggest", str(ws)], cwd=ROOT)
    time.sleep(1.5)
    # a decision made while suggest runs is kept, whatever happens to suggest
    second = before[1]
    review(ws, accept=[], reject=[f"{second[0]}:{second[1]}:{second[2]}"], moderator="m")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert rows(ws, "SELECT post_id, tag, action FROM suggestions ORDER BY rank") in (before, before[1:])
    done = curate("suggest", str(ws))
    assert done.returncode == 0, done.stderr
    after = {r for r in rows(ws, "SELECT post_id, tag, action FROM suggestions")}
    assert first not in after and second not in after
    assert {r[:4] for r in read_decisions(ws)} == {(*first, "accept"), (*second, "reject")}
    with sqlite3.connect(ws / "out" / "review.sqlite") as con:
        assert con.execute("SELECT count(*) FROM decisions").fetchall() == [(2,)]


@pytest.mark.slow
def test_two_writers_at_once_one_refuses_nothing_is_lost(built_ws, tmp_path):
    """ingest + select, images + suggest started together: each pair ends with one success and one
    one-line refusal naming the other, or (when the first ended before the second began) two
    successes; the catalog is whole either way."""
    ws = _copy_built(built_ws, tmp_path)
    for a, b in (("ingest", "select"), ("images", "suggest")):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "curation.cli", "-q", name, str(ws)], cwd=ROOT, stderr=subprocess.PIPE, text=True
            )
            for name in (a, b)
        ]
        results = [(p.wait(), p.stderr.read()) for p in procs]
        for code, err in results:
            assert code == 0 or (code == 1 and "locked by PID" in err and err.count("\n") == 1), err
        assert any(code == 0 for code, _ in results)
    assert rows(ws, "SELECT count(*) FROM posts")[0][0] > 100
    assert rows(ws, "SELECT count(*) FROM suggestions")[0][0] > 0


def test_a_stage_started_while_another_writes_is_refused_at_once(built_ws, tmp_path):
    """A writer in the middle of its work holds the workspace lock and the catalog file open for
    writing. A stage started then is refused with the one-line lock message before it reads the
    catalog to plan (it used to wait for the file and fail with another message)."""
    import duckdb

    ws = _copy_built(built_ws, tmp_path)
    with workspace_lock(ws), duckdb.connect(str(ws / "catalog.duckdb")):
        done = subprocess.run(
            [sys.executable, "-m", "curation.cli", "-q", "images", str(ws)], cwd=ROOT, capture_output=True, text=True
        )
    assert done.returncode == 1, done.stderr
    # not "in use by another process", which the catalog file gave after waiting 15 s for it
    assert "locked by PID" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert rows(ws, "SELECT count(*) FROM posts")[0][0] > 100


def test_any_fault_of_one_file_ends_in_a_status_for_that_file(tmp_path, monkeypatch):
    """MemoryError while decoding or hashing is `bomb`; any other unexpected fault is `corrupt`
    with its reason: one file never stops the images stage."""
    import curation.images.inspect as inspect

    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(inspect, "inspect_one", out_of_memory)
    result = inspect.inspect_file(tmp_path / "ok.png", 89_478_485)
    assert (result.status, result.error) == ("bomb", "ran out of memory decoding or hashing it")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in a hash")

    monkeypatch.setattr(inspect, "inspect_one", broken)
    result = inspect.inspect_file(tmp_path / "ok.png", 89_478_485)
    assert result.status == "corrupt" and result.error == "inspection failed: ZeroDivisionError: a bug in a hash"


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["dedupe", "split", "train"])
def test_kill_9_mid_stage_keeps_the_last_complete_results(built_ws, tmp_path, stage):
    """A rerun killed at several moments leaves the stage's tables and files as the last complete
    run wrote them (the prediction store included: it is written aside and swapped in), and a
    plain `curate run` after it finds nothing to redo but what the kill left undone."""
    from curation.pipeline import STAGE_NAMES
    from curation.tagger.store import PredictionStore

    table = {"dedupe": "dup_groups", "split": "splits", "train": "tagger_folds"}[stage]
    query = f"SELECT * FROM {table} ORDER BY ALL"
    for k, delay in enumerate((2.0, 4.0)):
        ws = _copy_built(built_ws, tmp_path / str(k))
        if stage == "train":  # nothing changed, so the heads would be kept: make it train (and write a new store)
            set_config(ws, tagger={"retrain_after_change": 0})
        before = rows(ws, query)
        store = ws / "cache" / "predictions" / "kfold-heads"
        predicted = np.concatenate([c for _, c in PredictionStore(store).chunks()], axis=0)
        child = subprocess.Popen([sys.executable, "-m", "curation.cli", "-q", stage, str(ws)], cwd=ROOT)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert rows(ws, query) == before  # the same inputs: a finished rerun writes the same rows too
        again = np.concatenate([c for _, c in PredictionStore(store).chunks()], axis=0)
        assert not np.isnan(again).any() and again.shape == predicted.shape  # never a half-written store
        done = curate("run", str(ws), "--only", ",".join(STAGE_NAMES[STAGE_NAMES.index(stage) :]))
        assert done.returncode == 0, done.stderr
        assert rows(ws, query) == before


@pytest.mark.slow
def test_kill_9_mid_embed_keeps_whole_shards_and_the_rerun_embeds_the_rest(board2021, tmp_path):
    """Embeddings are indexed shard by shard as each file completes: a kill keeps every indexed
    vector whole and equal to an uninterrupted run's, and the rerun embeds only what is left."""
    from curation.catalog import open_catalog
    from curation.embed import run_embed
    from curation.embed.stage import configured_embedder_id, load_vectors
    from curation.embed.store import EmbeddingStore

    def prepared(ws: Path) -> Path:
        init_workspace(ws, [board2021])
        set_config(ws, embed={"image_size": 64, "shard_size": 16, "batch_size": 8, "workers": 0})
        ingest(ws)
        select(ws)
        run_images(ws)
        return ws

    def vectors(ws: Path) -> dict[str, np.ndarray]:
        embedder = configured_embedder_id(load_config(ws).embed)
        with open_catalog(ws, read_only=True) as cat:
            md5s = [r[0] for r in cat.rows("SELECT md5 FROM embeddings WHERE embedder = ? ORDER BY md5", [embedder])]
            has, found = load_vectors(ws, cat, embedder, md5s)
        assert has.all() and np.isfinite(found).all()
        return dict(zip(md5s, found.astype(np.float32)))

    clean = prepared(tmp_path / "clean")
    run_embed(clean)
    expected = vectors(clean)
    ws = prepared(tmp_path / "ws")
    store = EmbeddingStore(ws, configured_embedder_id(load_config(ws).embed)).folder
    for shards in (2, 4):  # killed once this many shard files exist: every one before the last is indexed
        child = subprocess.Popen([sys.executable, "-m", "curation.cli", "-q", "embed", str(ws)], cwd=ROOT)
        deadline = time.monotonic() + 120
        while len(list(store.glob("shard_*.npy"))) < shards and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        kept = vectors(ws)
        assert 0 < len(kept) < len(expected)
        for md5, vector in kept.items():  # whole, and the same picture's vector (float16 storage)
            assert np.allclose(vector, expected[md5], atol=2e-2), md5
    done = curate("embed", str(ws))
    assert done.returncode == 0, done.stderr
    assert set(vectors(ws)) == set(expected)


@pytest.mark.slow
def test_kill_9_mid_report_leaves_a_whole_page_whose_files_exist(built_ws, tmp_path):
    """The page is replaced in one rename and its charts are new files: a kill leaves the old page
    or the new one, never a cut page or a page showing another run's charts; a rerun ends clean."""
    import re

    ws = _copy_built(built_ws, tmp_path)
    assert curate("report", str(ws)).returncode == 0
    page = ws / "out" / "report.html"

    def check() -> str:
        text = page.read_text()
        assert text.rstrip().endswith("</html>")
        for src in re.findall(r'src="(report_files/[^"]+)"', text):
            assert (ws / "out" / src).is_file(), src
        return text

    before = check()
    for delay in (1.5, 2.5, 3.5):
        child = subprocess.Popen([sys.executable, "-m", "curation.cli", "-q", "report", str(ws)], cwd=ROOT)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        check()
    assert curate("report", str(ws)).returncode == 0
    after = check()
    assert after != before  # a new page (its time stamp), with only its own charts left beside it
    charts = {p.name for p in (ws / "out" / "report_files").glob("*.png")}
    assert charts == set(re.findall(r'src="report_files/([^"/]+\.png)"', after))
