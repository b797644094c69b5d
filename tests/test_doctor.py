"""curate doctor: one line a check, and a failing check fails the command."""

from __future__ import annotations

import socket

from click.testing import CliRunner
from conftest import set_config

from curation.cli import main
from curation.doctor import run_checks
from curation.workspace import init_workspace


def test_a_good_workspace_passes_every_check(board2021, tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    result = CliRunner().invoke(main, ["doctor", str(ws)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[1] for line in lines] == ["versions", "config", "inputs", "embedder", "disk", "gpu", "prefect"]
    assert all(line.startswith("ok ") for line in lines), result.output


def test_missing_weights_a_missing_source_and_a_dead_server_fail(board2021, tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    init_workspace(ws, [board2021])
    set_config(ws, embed={"model": "open_clip:ViT-B-32/laion2b_s34b_b79k"})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    checks = {c.name: c for c in run_checks(ws)}
    assert checks["embedder"].status == "fail" and "huggingface.co" in checks["embedder"].detail
    assert checks["inputs"].status == "fail"  # preflight also finds the missing weights
    assert checks["prefect"].status == "fail" and "does not answer" in checks["prefect"].detail
    result = CliRunner().invoke(main, ["doctor", str(ws)])
    assert result.exit_code == 1
