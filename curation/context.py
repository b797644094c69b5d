"""What every stage works with, built once and passed down: the workspace and its config.

A stage function accepts a workspace path or a :class:`StageContext`; :func:`stage_context`
turns the one into the other, reading ``curate.toml`` only when it is given a path. The
pipeline builds one context per stage run and hands the same object to the stage, its helpers
and its bookkeeping, so the config is read once, not in every helper.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import Config, load_config


@dataclass(frozen=True)
class StageContext:
    """A workspace and its validated config."""

    workspace: Path
    config: Config

    @property
    def out(self) -> Path:
        """WORKSPACE/out, created on first use."""
        folder = self.workspace / "out"
        folder.mkdir(exist_ok=True)
        return folder

    def staged(self, *changes: str, upserts: dict[str, str] | None = None):
        """The catalog for a stage's writes (all or nothing), under the workspace lock: ``changes``
        names the tables the stage updates in place, ``upserts`` those it adds rows to by key
        (see :func:`~curation.catalog.staged_catalog`)."""
        from .catalog import staged_catalog

        return staged_catalog(
            self.workspace, memory_limit=self.config.runner.duckdb_memory_limit, changes=changes, upserts=upserts
        )

    def read(self):
        """The catalog, read-only."""
        from .catalog import open_catalog

        return open_catalog(self.workspace, read_only=True)


def stage_context(where: Path | str | StageContext) -> StageContext:
    """``where`` as a context: itself, or the workspace at that path with its config read now."""
    if isinstance(where, StageContext):
        return where
    from .images.limits import use_pixel_limit

    config = load_config(where)
    use_pixel_limit(config.images.max_pixels)  # files are opened under the workspace's guard, workers too
    return StageContext(Path(where), config)


Where = Path | str | StageContext  # what a stage function takes: a workspace path, or its context
