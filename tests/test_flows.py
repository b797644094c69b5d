"""Prefect flows: stage fingerprints and skipping (no server), the rebuild flow on a temporary
server, the images and embed stages on a 2-worker Dask LocalCluster giving the same tables as
a local run, and a scheduled deployment served against a real Prefect server on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from conftest import set_config

from curation import pipeline
from curation.code import module_closure
from curation.errors import ConfigError
from curation.images import run_images
from curation.ingest import ingest
from curation.select import select
from curation.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[1]


def _workspace(board, tmp_path, name="ws", runner: dict | None = None) -> Path:
    ws = tmp_path / name
    init_workspace(ws, [board])
    set_config(ws, embed={"image_size": 64}, tagger={"folds": 2, "epochs": 2}, runner=runner or {})
    return ws


def test_fingerprints_skip_unchanged_stages_and_redo_changed_ones(board2021, tmp_path):
    ws = _workspace(board2021, tmp_path)
    first = pipeline.run_stage(ws, "ingest")
    assert first[0].run and first[0].reason == "never ran in this workspace" and first[1]["posts"] > 0
    again = pipeline.decide(ws, "ingest")
    assert not again.run and again.reason.startswith("inputs unchanged since it last ran")
    assert pipeline.decide(ws, "ingest", {"ingest"}).reason == "forced (--force)"
    pipeline.run_stage(ws, "select")
    assert not pipeline.decide(ws, "select").run
    set_config(ws, select={"min_width": 10})
    assert pipeline.decide(ws, "select").run  # its config changed
    assert not pipeline.decide(ws, "ingest").run  # upstream of the change: untouched
    pipeline.run_stage(ws, "select")
    assert not pipeline.decide(ws, "select").run
    set_config(ws, select={"min_width": 0})
    pipeline.run_stage(ws, "select")
    newer = board2021 / "metadata" / "tag_aliases.csv"
    was = newer.stat()
    os.utime(newer, (time.time() + 5, time.time() + 5))  # a dump file changed on disk
    try:
        assert pipeline.decide(ws, "ingest").run
    finally:  # the board is shared by the session's other tests: leave it as it was
        os.utime(newer, ns=(was.st_atime_ns, was.st_mtime_ns))
    md = pipeline.markdown("ingest", first[1], first[2])
    assert md.startswith("## ingest (") and "| posts |" in md


@pytest.fixture(scope="module")
def prefect_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect_home")
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "DO_NOT_TRACK": "1",
        "DASK_TEMPORARY_DIRECTORY": str(home / "dask"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("PREFECT_API_URL", None)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.slow
def test_rebuild_flow_runs_every_stage_then_skips_them(board2021, tmp_path, prefect_env):
    from flows.rebuild import rebuild

    ws = _workspace(board2021, tmp_path)
    results = rebuild(workspace=str(ws))
    assert [r["stage"] for r in results] == list(pipeline.STAGE_NAMES) and all(r["ran"] for r in results)
    assert (ws / "out" / "suggestions.json").exists() and (ws / "out" / "splits" / "train.parquet").exists()
    again = rebuild(workspace=str(ws))
    assert not any(r["ran"] for r in again)
    forced = rebuild(workspace=str(ws), force=["dedupe"])
    ran = {r["stage"] for r in forced if r["ran"]}
    assert "dedupe" in ran and "ingest" not in ran and "images" not in ran

    from prefect.settings import PREFECT_API_URL

    artifacts = _get(
        f"{PREFECT_API_URL.value()}/artifacts/filter",
        {"limit": 200, "offset": 0, "sort": "CREATED_DESC", "artifacts": {}, "flow_runs": {}, "task_runs": {}},
    )
    assert {f"{s}-summary" for s in pipeline.STAGE_NAMES} <= {a["key"] for a in artifacts}
    assert any("| posts |" in (a.get("data") or "") for a in artifacts if a["key"] == "ingest-summary")


@pytest.mark.slow
def test_a_failed_stage_leaves_the_catalog_consistent_and_the_next_run_resumes(board2021, tmp_path, prefect_env):
    from flows.rebuild import rebuild

    ws = _workspace(board2021, tmp_path)
    rebuild(workspace=str(ws), only=["ingest", "select"])
    set_config(ws, images={"layout": "pattern", "pattern": "{nope}"})
    before = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True).execute("SELECT count(*) FROM posts").fetchall()
    with pytest.raises(ConfigError, match="pattern"):
        rebuild(workspace=str(ws), only=["images"])
    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM posts").fetchall() == before
    assert con.execute("SELECT count(*) FROM images").fetchall() == [(0,)]
    assert "images" not in {r[0] for r in con.execute("SELECT stage FROM stage_runs").fetchall()}
    con.close()
    set_config(ws, images={"layout": "board", "pattern": ""})
    resumed = rebuild(workspace=str(ws), only=["ingest", "select", "images"])
    assert [r["ran"] for r in resumed] == [False, False, True]


@pytest.mark.slow
def test_images_and_embed_on_a_dask_cluster_match_a_local_run(board2021, tmp_path, prefect_env):
    from flows.sharded import embed_on_dask, images_on_dask

    local = _workspace(board2021, tmp_path, "local")
    dask = _workspace(board2021, tmp_path, "dask", {"kind": "dask"})
    for ws in (local, dask):
        ingest(ws)
        select(ws)
    run_images(local)
    report = images_on_dask(str(dask), workers=2, shards=4)
    assert report.inspected > 0

    def table(ws, query):
        con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
        rows = sorted(con.execute(query).fetchall(), key=str)
        con.close()
        return rows

    query = "SELECT post_id, md5, path, status, width, height, has_alpha, frames, file_md5 FROM images"
    assert table(local, query) == table(dask, query)
    hashes = (
        "SELECT md5, pixel_sha256, phash, dhash, phash_mirror, dhash_mirror, bg_phash, bg_dhash, hash_version FROM image_hashes"
    )
    assert table(local, hashes) == table(dask, hashes)

    from curation.embed import run_embed

    for ws in (local, dask):  # a recipe: two stores (the features, the plain vectors) from one pass
        set_config(ws, embed={"layers": [6]})
    run_embed(local)
    embedded = embed_on_dask(str(dask), workers=2, shards=2)
    assert embedded.embedded > 0
    vectors = "SELECT md5, embedder FROM embeddings"
    assert table(local, vectors) == table(dask, vectors)
    assert len({e for _, e in table(dask, vectors)}) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: dict | None = None):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_serve_runs_on_schedule_against_a_real_server(board2021, tmp_path):
    ws = _workspace(board2021, tmp_path)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_API_URL": api,
    }
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    served = None
    try:
        deadline = time.time() + 120
        while True:
            try:
                if _get(f"{api}/health"):
                    break
            except OSError:
                pass
            assert time.time() < deadline, "the Prefect server did not become healthy in 120 s"
            time.sleep(1)
        log = tmp_path / "serve.log"
        with open(log, "w") as out:  # kept for the failure message
            served = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "curation.cli",
                    "serve",
                    str(ws),
                    "--interval",
                    "5",
                    "--only",
                    "ingest,select",
                    "--name",
                    "scheduled-test",
                ],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.time() + 300  # a run takes seconds; the margin is for a loaded 2-core machine
        completed = []
        while not completed:
            assert served.poll() is None, "curate serve exited:\n" + log.read_text()[-3000:]
            if time.time() >= deadline:
                states = [(r["name"], r["state_type"]) for r in _get(f"{api}/flow_runs/filter", {"limit": 10})]
                pytest.fail(f"no scheduled run completed within 300 s; runs {states}; serve's log:\n{log.read_text()[-3000:]}")
            time.sleep(3)
            runs = _get(f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}})
            completed = [r for r in runs if r.get("deployment_id")]
        con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
        assert con.execute("SELECT count(*) FROM selection").fetchall()[0][0] > 0
        con.close()
    finally:
        if served is not None:
            _stop(served)
        _stop(server)
    assert server.poll() is not None and (served is None or served.poll() is not None)


def test_transient_faults_are_told_from_the_users_errors():
    import errno

    from curation.errors import SourceError, WorkspaceLocked
    from curation.runlog import is_transient

    assert is_transient(TimeoutError()) and is_transient(OSError(errno.EIO, "I/O error"))
    assert is_transient(type("KilledWorker", (Exception,), {})())
    for exc in (SourceError("x"), WorkspaceLocked("x"), FileNotFoundError(errno.ENOENT, "no"), ValueError("bug"), None):
        assert not is_transient(exc)


@pytest.mark.slow
def test_the_flow_retries_a_transient_fault_and_never_a_users_error(prefect_env):
    from prefect import flow, task

    from curation.errors import SourceError
    from flows.rebuild import _worth_retrying

    calls = {"flaky": 0, "wrong": 0}

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=_worth_retrying)
    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise TimeoutError("the share timed out")
        return "ok"

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=_worth_retrying)
    def wrong() -> None:
        calls["wrong"] += 1
        raise SourceError("dump.json: not a dump")

    @flow
    def both() -> str:
        first = flaky()
        try:
            wrong()
        except SourceError:
            pass
        return first

    assert both() == "ok"
    assert calls == {"flaky": 2, "wrong": 1}


def test_a_stages_fingerprint_covers_its_own_code_and_what_it_imports():
    root = ROOT / "curation"
    ingest = set(pipeline.code_files("ingest"))
    assert root / "ingest" / "ingest.py" in ingest and root / "ingest" / "canonical.py" in ingest
    assert root / "sql" / "staging" / "stg_posts_json.sql" in ingest and root / "catalog.py" in ingest
    assert root / "report" / "build.py" not in ingest and root / "cli.py" not in ingest  # editing the report reruns no ingest
    report = set(pipeline.code_files("report"))
    assert root / "report" / "build.py" in report and root / "ingest" / "ingest.py" not in report
    suggest = set(pipeline.code_files("suggest"))
    assert root / "tagger" / "train.py" in suggest and root / "sql" / "marts" / "post_labels.sql" in suggest
    for name in pipeline.STAGE_NAMES:  # every module of a stage's own package
        package = root / pipeline.STAGE_PACKAGES[name]
        assert set(package.glob("*.py")) <= set(pipeline.code_files(name)), name


def test_a_pixel_checks_id_changes_when_any_module_it_relies_on_changes(monkeypatch):
    """The keypoint check names only its own module; re-reading the files (dedupe/reread.py) and
    reducing them to the keypoint frame (images/hashing.py) are imported from there, and editing
    either must make stored answers stale."""
    from curation.dedupe import checks, keypoints

    closure = {path.relative_to(ROOT / "curation").as_posix() for path in module_closure([keypoints.__name__]).values()}
    assert {"dedupe/keypoints.py", "dedupe/reread.py", "images/hashing.py", "dedupe/align.py"} <= closure
    assert "dedupe/stage.py" not in closure and "cli.py" not in closure

    def check_of(edited: str | None) -> str:
        checks._code.cache_clear()
        real = Path.read_bytes

        def read_bytes(path: Path) -> bytes:
            text = real(path)
            return text + b"# edited\n" if edited and path.as_posix().endswith(edited) else text

        with monkeypatch.context() as patched:
            patched.setattr(Path, "read_bytes", read_bytes)
            return checks.check_id("limits", modules=(keypoints,))

    before = check_of(None)
    assert check_of(None) == before
    for edited in ("dedupe/reread.py", "images/hashing.py", "dedupe/keypoints.py"):
        assert check_of(edited) != before, edited
    assert check_of("report/build.py") == before
    checks._code.cache_clear()
