"""The curate command as a user meets it: help text, exit codes, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import set_config

from curation.cli import main
from curation.pipeline import STAGE_NAMES

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


def test_every_command_and_option_has_help():
    assert main.help
    names = []
    for path, command in _commands(main):
        names.append(" ".join(path))
        assert command.help and command.help.strip(), f"`curate {' '.join(path)}` has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"`curate {' '.join(path)} {param.opts[0]}` has no help text"
        result = run(*path, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "evaluate dedupe" in names  # subcommands of groups are checked too


def test_synth_then_init_then_config(tmp_path):
    result = run("-q", "synth", str(tmp_path / "b"), "--posts", "30", "--no-images", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert "posts" in result.output and "30" in result.output
    result = run("init", str(tmp_path / "ws"), "--source", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'ws' / 'curate.toml'}" in result.output
    assert "danbooru2021" in result.output and "aliases" in result.output
    cfg = json.loads(run("config", str(tmp_path / "ws")).output)
    assert [s["format"] for s in cfg["sources"]] == ["danbooru2021", "aliases", "implications", "tags"]
    assert cfg["select"]["drop_deleted"] and cfg["select"]["min_tag_count"] == 0


def test_config_error_is_one_line_exit_1(tmp_path):
    (tmp_path / "curate.toml").write_text("[embed]\nbatch_size = 0\n")
    result = CliRunner().invoke(main, ["config", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        result.output
        == f"error: {tmp_path / 'curate.toml'}: [embed] batch_size = 0: Input should be greater than or equal to 1\n"
    )
    assert "Traceback" not in result.output


def test_verbose_shows_the_traceback(tmp_path):
    from curation.errors import ConfigError

    with pytest.raises(ConfigError):
        CliRunner().invoke(main, ["--verbose", "config", str(tmp_path)], catch_exceptions=False)


def test_usage_errors_exit_2(tmp_path):
    assert CliRunner().invoke(main, ["synth", str(tmp_path)]).exit_code == 2  # --posts missing
    assert CliRunner().invoke(main, ["synth", str(tmp_path), "--posts", "5", "--format", "gelbooru"]).exit_code == 2
    assert CliRunner().invoke(main, ["frobnicate"]).exit_code == 2


def test_existing_board_and_config_are_not_overwritten(tmp_path):
    assert run("-q", "synth", str(tmp_path / "b"), "--posts", "10", "--no-images").exit_code == 0
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "b"), "--posts", "10", "--no-images"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "--overwrite" in result.output
    assert run("init", str(tmp_path / "ws"), "--source", str(tmp_path / "b")).exit_code == 0
    result = CliRunner().invoke(main, ["init", str(tmp_path / "ws"), "--source", str(tmp_path / "b")])
    assert result.exit_code == 1 and "already exists; pass --overwrite" in result.output


@pytest.mark.slow
@pytest.mark.slow
def curate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in its own interpreter: what reaches stdout and stderr up to the process's exit."""
    return subprocess.run([sys.executable, "-m", "curation.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT)


@pytest.mark.slow
def test_demo_and_run_print_one_line_per_stage_and_nothing_at_exit(tmp_path):
    done = curate("demo", str(tmp_path / "demo"), "--posts", "120")
    assert done.returncode == 0, done.stderr
    assert "nanobind" not in done.stderr and "leaked" not in done.stderr
    assert (tmp_path / "demo" / "board" / "truth" / "manifest.json").is_file()
    assert any((tmp_path / "demo" / "board" / "original").rglob("*.*"))
    lines = done.stdout.splitlines()
    for stage in ("ingest:", "select:", "images:", "embed:", "dedupe:", "split:", "train:", "suggest:"):
        assert any(line.startswith(stage) for line in lines), (stage, done.stdout)
    assert [line.split()[1] for line in lines if re.match(r"\d/9 ", line)] == list(STAGE_NAMES)
    assert "vs planted label noise" in done.stdout and (tmp_path / "demo" / "workspace" / "out" / "suggestions.json").is_file()
    ws = tmp_path / "demo" / "workspace"
    again = curate("run", str(ws))
    assert again.returncode == 0 and again.stderr == "", again.stderr
    lines = again.stdout.splitlines()
    assert len(lines) <= len(STAGE_NAMES) + 4, again.stdout  # a line per stage and the summary
    assert all(f"{i}/9 {name}" in lines[i - 1] and "skipped" in lines[i - 1] for i, name in enumerate(STAGE_NAMES, start=1))
    assert lines[len(STAGE_NAMES)].startswith("done in ") and "0 of 9 stages ran" in lines[len(STAGE_NAMES)]
    assert (ws / "cache" / "logs" / "run.log").stat().st_size > 0  # Prefect's own lines went there
    # nothing changed: said without starting a temporary Prefect server, and recorded as a run
    history = json.loads(curate("runs", str(ws), "--last", "1", "--json").stdout)
    assert history[0]["run_id"].startswith("unchanged-") and not any(s["ran"] for s in history[0]["stages"])
    quiet = curate("-q", "run", str(ws), "--only", "report")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    as_json = curate("run", str(ws), "--only", "select,report", "--json")
    result = json.loads(as_json.stdout)
    assert [s["stage"] for s in result["stages"]] == ["select", "report"] and as_json.stderr == ""
    # under Dask (a LocalCluster of worker processes), no distributed log line reaches the console
    set_config(ws, runner={"kind": "dask"})
    dask = curate("run", str(ws), "--only", "images,embed,suggest", "--force", "images,embed,suggest")
    assert dask.returncode == 0 and dask.stderr == "", dask.stderr
    assert len(dask.stdout.splitlines()) <= 3 + 4 and "ran" in dask.stdout.splitlines()[2]


@pytest.mark.slow
def test_run_fails_at_once_in_one_line_and_never_retries_a_users_error(tmp_path):
    board, ws = tmp_path / "b", tmp_path / "ws"
    assert curate("-q", "synth", str(board), "--posts", "40", "--image-size", "64").returncode == 0
    assert curate("init", str(ws), "--source", str(board)).returncode == 0
    toml = (ws / "curate.toml").read_text()
    (ws / "curate.toml").write_text(toml.replace("tags000000000000.json", "gone.json"))
    done = curate("run", str(ws))
    assert done.returncode == 1 and done.stdout == ""
    assert (
        done.stderr == f"error: {board / 'metadata' / 'gone.json'}: no such file or folder (a [[sources]] path in curate.toml)\n"
    )
    assert not (ws / "cache" / "prefect").exists()  # failed before Prefect started
    # an error only a stage can find (here a placeholder the images pattern lacks) fails the flow
    # at once, once: no retry, one line, nothing at exit
    (ws / "curate.toml").write_text(toml)
    hook = _Webhook()
    set_config(ws, images={"layout": "pattern", "pattern": "{nope}"}, runner={"notify_url": hook.url})
    try:
        done = curate("run", str(ws))
    finally:
        hook.stop()
    assert done.returncode == 1
    assert done.stderr == "error: [images] pattern = '{nope}': KeyError('nope') (fields: id, md5, ext, bucket)\n"
    log = (ws / "cache" / "logs" / "run.log").read_text()
    assert "KeyError('nope')" in log and "Retry" not in log
    assert hook.received == [{"event": "rebuild failed", "workspace": str(ws.resolve()), "stage": "images",
                              "error": "[images] pattern = '{nope}': KeyError('nope') (fields: id, md5, ext, bucket)",
                              "error_kind": "user"}]  # fmt: skip
    history = json.loads(curate("runs", str(ws), "--json").stdout)
    assert [(s["stage"], s["ran"], s["outcome"][:6]) for s in history[0]["stages"]] == [
        ("ingest", True, "ok"), ("select", True, "ok"), ("images", True, "failed")]  # fmt: skip
    listed = curate("runs", str(ws)).stdout
    assert "FAILED at images" in listed and "KeyError('nope')" in listed


class _Webhook:
    """A loopback HTTP server that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


def test_ingest_select_export_and_evaluate_from_the_command_line(tmp_path):
    board, ws = tmp_path / "b", tmp_path / "ws"
    assert run("-q", "synth", str(board), "--posts", "60", "--no-images", "--seed", "4").exit_code == 0
    assert run("init", str(ws), "--source", str(board)).exit_code == 0
    result = run("ingest", str(ws))
    assert result.exit_code == 0, result.output
    assert "danbooru2021" in result.output and "catalog: 60 live posts" in result.output
    result = run("evaluate", "ingest", str(ws), "--truth", str(board / "truth"))
    assert result.exit_code == 0 and "ingest matches the ground truth" in result.output
    assert "posts found: 60/60" in result.output
    result = run("select", str(ws))
    assert result.exit_code == 0 and "drop deleted" in result.output and "selected " in result.output
    result = run("export-sqlite", str(ws), str(tmp_path / "sel.db"))
    assert result.exit_code == 0 and result.output.startswith(f"wrote {tmp_path / 'sel.db'}: ")
    result = CliRunner().invoke(main, ["images", str(ws)])  # a --no-images board has no image folder
    assert result.exit_code == 1
    assert result.output == f"error: {ws / 'curate.toml'}: no [[sources]] entry has an `images` folder\n"


def test_images_and_its_evaluation_from_the_command_line(board2021, tmp_path):
    ws = tmp_path / "ws"
    assert run("init", str(ws), "--source", str(board2021)).exit_code == 0
    for stage in ("ingest", "select", "images"):
        assert run("-q", stage, str(ws)).exit_code == 0
    result = run("evaluate", "images", str(ws), "--truth", str(board2021 / "truth"))
    assert result.exit_code == 0
    first = result.output.splitlines()[0]
    right, total = first.rsplit(" ", 1)[1].split("/")
    assert right == total and int(total) >= 5


def test_stage_errors_are_one_line(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "curate.toml").write_text('[[sources]]\npath = "missing/posts*.json"\nformat = "danbooru2021"\n')
    result = CliRunner().invoke(main, ["ingest", str(ws)])
    assert result.exit_code == 1
    assert result.output == f"error: {ws / 'missing/posts*.json'}: no danbooru2021 files there\n"
    result = CliRunner().invoke(main, ["select", str(ws)])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "run `curate ingest" in result.output
    result = CliRunner().invoke(main, ["ingest", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no such file" in result.output


def test_a_missing_prerequisite_is_stage_not_run_naming_the_command(board2021, tmp_path):
    from curation.errors import StageNotRun
    from curation.images import run_images
    from curation.ingest import ingest
    from curation.workspace import init_workspace

    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    ingest(ws)
    with pytest.raises(StageNotRun, match=r"no selection yet; run `curate select .*` first"):
        run_images(ws)
