"""One workspace per dataset: ``curate.toml``, ``catalog.duckdb``, ``cache/``, ``out/``."""

from __future__ import annotations

import os
from pathlib import Path

from .config import CONFIG_NAME, load_config
from .config_notes import starter_sections
from .errors import WorkspaceError
from .ingest.detect import DetectedSource, detect

STARTER_HEAD = """# booru-curate workspace config. Every key below shows its default; uncomment to change.
# Docs: docs/configuration.md and one page per stage in docs/. Unknown keys and wrong types are errors.
dataset = {dataset}

{sources}
"""


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _relative(path: Path, workspace: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), workspace.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def render_starter(workspace: Path, sources: list[DetectedSource], dataset: str) -> str:
    """The commented starter curate.toml for these sources."""
    blocks = []
    for source in sources:
        lines = [
            "[[sources]]",
            f"path = {_toml_string(_relative(source.path, workspace))}",
            f"format = {_toml_string(source.format)}",
        ]
        if source.images:
            lines.append(f"images = {_toml_string(_relative(source.images, workspace))}")
        blocks.append("\n".join(lines) + "\n")
    return STARTER_HEAD.format(dataset=_toml_string(dataset), sources="\n".join(blocks)) + starter_sections()


def init_workspace(
    workspace: Path | str, source_paths: list[Path | str], overwrite: bool = False
) -> tuple[Path, list[DetectedSource]]:
    """Create a workspace with a starter config for the given dumps; returns (config path, sources)."""
    workspace = Path(workspace)
    config = workspace / CONFIG_NAME
    if config.exists() and not overwrite:
        raise WorkspaceError(f"{config} already exists; pass --overwrite to replace it")
    sources = [s for p in source_paths for s in detect(p)]
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "cache").mkdir(exist_ok=True)
    (workspace / "out").mkdir(exist_ok=True)
    config.write_text(render_starter(workspace, sources, workspace.resolve().name), encoding="utf-8")
    load_config(workspace)  # what we wrote must be valid
    return config, sources
