"""Shared fixtures: small synthetic boards made once per session, offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def catalog_rows(ws: Path, query: str, params: list | None = None) -> list[tuple]:
    """Rows of a query on WS's catalog, through a read-only connection closed after."""
    import duckdb

    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def set_config(ws: Path, **sections: dict) -> None:
    """Change keys of WS/curate.toml through the config models: ``set_config(ws, tagger={"folds": 2})``."""
    from curation.config import load_config, with_settings, write_config

    write_config(ws, with_settings(load_config(ws), **sections))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there (the real reference files sit beside the project)")
    return SHARED_DATA


def _board(tmp_path_factory, fmt: str, posts: int, images: bool, seed: int = 3) -> Path:
    from curation.synth import generate_board

    out = tmp_path_factory.mktemp(f"board_{fmt}")
    generate_board(out, posts, seed=seed, fmt=fmt, image_size=96, images=images, workers=1)
    return out


@pytest.fixture(scope="session")
def board2021(tmp_path_factory) -> Path:
    """A 160-post Danbooru 2021-format board with 96-px images."""
    return _board(tmp_path_factory, "danbooru2021", 160, images=True)


@pytest.fixture(scope="session")
def built_ws(board2021, tmp_path_factory) -> Path:
    """A workspace on board2021 that ran every stage (small settings): copy it before changing it."""
    from curation import pipeline
    from curation.workspace import init_workspace

    ws = tmp_path_factory.mktemp("built") / "ws"
    init_workspace(ws, [board2021])
    set_config(ws, embed={"image_size": 64}, tagger={"folds": 2, "epochs": 3}, select={"min_tag_count": 3})
    for name in pipeline.STAGE_NAMES:
        pipeline.run_stage(ws, name)
    return ws


@pytest.fixture(scope="session")
def board2017(tmp_path_factory) -> Path:
    return _board(tmp_path_factory, "danbooru2017", 120, images=False)


@pytest.fixture(scope="session")
def board_e621(tmp_path_factory) -> Path:
    return _board(tmp_path_factory, "e621", 120, images=False)
