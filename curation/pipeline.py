"""The stages in rebuild order, what each depends on, and when one can be skipped.

A stage's fingerprint hashes everything its output depends on: its config sections, the code
it runs (:func:`code_files`: its package, the modules it imports, their SQL steps), the fingerprints its upstream stages
recorded when they last ran, and outside inputs (dump files for ingest, the image folders for
images, moderators' decisions for the label-dependent stages). After a stage succeeds, its
fingerprint is recorded in ``stage_runs``; the next rebuild skips it while the fingerprint is
unchanged, and says why. Orchestrator-free: the Prefect flows in ``flows/`` call this.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .catalog import CATALOG_NAME, catalog_in_place, open_catalog
from .code import PACKAGE_ROOT, module_closure
from .config import Config, load_config
from .context import stage_context
from .decisions import duplicate_decisions, signature
from .errors import ConfigError


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]  # config sections it reads
    upstream: tuple[str, ...]
    io: bool = False  # reads files a network share may fail on: worth retrying
    decisions: bool = False  # depends on moderators' decisions (labels)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", ("sources", "runner"), (), io=True),
    Stage("select", ("select",), ("ingest",)),
    Stage("images", ("images", "sources"), ("select",), io=True),
    Stage("embed", ("embed",), ("images",), io=True),
    Stage("dedupe", ("dedupe", "embed"), ("images", "embed")),
    Stage("split", ("split",), ("select", "dedupe", "images"), decisions=True),
    Stage("train", ("tagger", "embed", "split"), ("select", "embed", "dedupe"), decisions=True),
    Stage("suggest", ("suggest", "runner"), ("train",), decisions=True),
    Stage("report", ("tagger", "split"), ("select", "dedupe", "split", "train", "suggest")),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGE_NAMES)}")


STAGE_PACKAGES = {"ingest": "ingest", "select": "select", "images": "images", "embed": "embed", "dedupe": "dedupe",
                  "split": "split", "train": "tagger", "suggest": "suggest", "report": "report"}  # fmt: skip
SQL_STEP = re.compile(r"""["']((?:staging|marts|filters|schema)/[a-z0-9_]+)["']""")


@cache
def code_files(name: str) -> tuple[Path, ...]:
    """The files stage ``name``'s output depends on: its package, every curation module they
    import (transitively), the SQL steps those name, and the catalog schema."""
    files = set(module_closure([f"curation.{STAGE_PACKAGES[name]}"], whole_packages=True).values())
    sql = PACKAGE_ROOT / "sql"
    for path in list(files):
        for step in SQL_STEP.findall(path.read_text(encoding="utf-8")):
            if (sql / f"{step}.sql").is_file():
                files.add(sql / f"{step}.sql")
    files.update((sql / "schema").glob("*.sql"))
    return tuple(sorted(files))


@cache
def code_version(name: str) -> str:
    """A hash of the code stage ``name`` runs (:func:`code_files`): editing the report does not
    re-run ingest."""
    digest = hashlib.sha256()
    for path in code_files(name):
        digest.update(path.relative_to(PACKAGE_ROOT.parent).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _files_signature(paths: list[Path]) -> list:
    """(path, size, mtime) of every file under the paths: cheap, and changes when a file does."""
    out = []
    for root in paths:
        if root.is_file():
            st = root.stat()
            out.append((str(root), st.st_size, st.st_mtime_ns))
        elif root.is_dir():
            count = size = newest = 0
            for dirpath, _, files in os.walk(root):
                for name in files:
                    st = os.stat(os.path.join(dirpath, name))
                    count, size, newest = count + 1, size + st.st_size, max(newest, st.st_mtime_ns)
            out.append((str(root), count, size, newest))
        else:  # a glob
            out.extend(
                (str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.parent.glob(root.name)) if p.is_file()
            )
    return out


def _outside_inputs(workspace: Path, config: Config, s: Stage) -> list:
    if s.name == "ingest":
        return _files_signature([src.path for src in config.sources])
    if s.name == "images":
        return _files_signature([src.images for src in config.sources if src.images is not None])
    if s.name == "dedupe":  # moderators' "not duplicates" and "representative" verdicts
        apart, chosen = duplicate_decisions(workspace)
        return [sorted(apart), sorted(chosen)]
    if s.name == "suggest":
        return _files_signature([workspace / "out" / "review.sqlite"])  # moderators' rows written there
    return []


def fingerprint(workspace: Path | str, name: str, decisions_seen: list | None = None) -> str:
    """``decisions_seen``: the journal's signature when the stage started (a decision made while
    it ran must make the next rebuild run it again)."""
    workspace = Path(workspace)
    config = load_config(workspace)
    s = stage(name)
    recorded = recorded_runs(workspace)
    decisions = (decisions_seen if decisions_seen is not None else signature(workspace)) if s.decisions else []
    material = {
        "stage": name,
        "config": {section: getattr(config, section) for section in s.sections},
        "code": code_version(name),
        "upstream": {u: recorded.get(u, {}).get("fingerprint") for u in s.upstream},
        "inputs": _outside_inputs(workspace, config, s),
        "decisions": decisions,
    }
    text = json.dumps(
        material, sort_keys=True, default=lambda o: o.model_dump(mode="json") if hasattr(o, "model_dump") else str(o)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recorded_runs(workspace: Path | str) -> dict[str, dict]:
    workspace = Path(workspace)
    if not (workspace / CATALOG_NAME).exists():
        return {}
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("stage_runs"):
            return {}
        return {
            r[0]: {"fingerprint": r[1], "finished_at": r[2], "seconds": r[3], "summary": json.loads(r[4] or "{}")}
            for r in cat.rows("SELECT stage, fingerprint, finished_at, seconds, summary FROM stage_runs")
        }


@dataclass(frozen=True)
class Decision:
    stage: str
    run: bool
    reason: str
    fingerprint: str


def decide(workspace: Path | str, name: str, force: set[str] | frozenset = frozenset()) -> Decision:
    """Whether ``name`` must run now, and why (or why not)."""
    fp = fingerprint(workspace, name)
    last = recorded_runs(workspace).get(name)
    if name in force or "all" in force:
        return Decision(name, True, "forced (--force)", fp)
    if last is None:
        return Decision(name, True, "never ran in this workspace", fp)
    if last["fingerprint"] != fp:
        return Decision(name, True, "its inputs changed (config, code, upstream outputs or input files)", fp)
    return Decision(name, False, f"inputs unchanged since it last ran at {last['finished_at']}", fp)


def record(workspace: Path | str, name: str, fp: str, seconds: float, summary: dict) -> None:
    with catalog_in_place(workspace) as cat:  # one row: atomic without a copy of the catalog
        cat.con.execute(
            "INSERT OR REPLACE INTO stage_runs VALUES (?, ?, ?, ?, ?)",
            [name, fp, dt.datetime.now(dt.UTC).replace(tzinfo=None), seconds, json.dumps(summary, default=str)],
        )


def runner(name: str) -> Callable:
    """The library function that runs stage ``name`` on a workspace."""
    from .dedupe import run_dedupe
    from .embed import run_embed
    from .images import run_images
    from .ingest import ingest
    from .report import build_report
    from .select import select
    from .split import run_split
    from .suggest import run_suggest
    from .tagger import run_train

    return {
        "ingest": ingest,
        "select": select,
        "images": run_images,
        "embed": run_embed,
        "dedupe": run_dedupe,
        "split": run_split,
        "train": run_train,
        "suggest": run_suggest,
        "report": build_report,
    }[name]


def summarise(report) -> dict:
    """A stage report as plain JSON-able values (for stage_runs and the flow's artifacts)."""
    if dataclasses.is_dataclass(report):
        out = {}
        for f in dataclasses.fields(report):
            value = getattr(report, f.name)
            if dataclasses.is_dataclass(value):
                value = summarise(value)
            elif isinstance(value, (list, tuple)) and len(value) > 20:
                value = f"{len(value)} items"
            elif hasattr(value, "tolist") and getattr(value, "size", 0) > 20:
                value = f"{value.size} items"
            elif isinstance(value, (list, tuple)) and value and all(dataclasses.is_dataclass(v) for v in value):
                value = [summarise(v) for v in value]
            out[f.name] = value
        return json.loads(json.dumps(out, default=str))
    return {"result": str(report)}


def markdown(name: str, summary: dict, seconds: float) -> str:
    """A stage summary as a Markdown table (a Prefect artifact, or anywhere else)."""
    lines = [f"## {name} ({seconds:.1f} s)", "", "| what | value |", "|---|---|"]
    for key, value in summary.items():
        text = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"| {key} | {text.replace('|', '/')[:300]} |")
    return "\n".join(lines) + "\n"


def run_stage(workspace: Path | str, name: str, force: set[str] | frozenset = frozenset()) -> tuple[Decision, dict, float]:
    """Run one stage unless it can be skipped; returns (decision, summary, seconds)."""
    ctx = stage_context(workspace)  # the config read once for the stage and everything it calls
    workspace = ctx.workspace
    decision = decide(workspace, name, force)
    if not decision.run:
        return decision, recorded_runs(workspace)[name]["summary"], 0.0
    started = time.perf_counter()
    seen = signature(workspace)
    summary = summarise(runner(name)(ctx))
    seconds = time.perf_counter() - started
    record(workspace, name, fingerprint(workspace, name, seen), seconds, summary)
    return decision, summary, seconds


def preflight(workspace: Path | str, stages: list[str] | None = None) -> None:
    """The checks a rebuild can make in a moment, before any orchestrator starts: the config,
    every source and images folder there, the embedder's weights on this machine, and no other
    command holding the workspace. Each
    failure is the CurationError the stage itself would raise, one line."""
    from .ingest.files import source_files
    from .lock import workspace_lock

    workspace = Path(workspace)
    config = load_config(workspace)
    wanted = set(stages or STAGE_NAMES)
    if "ingest" in wanted:
        for source in config.sources:
            source_files(source)
    if "images" in wanted:
        for source in config.sources:
            if source.images is not None and not source.images.is_dir():
                raise ConfigError(f"{workspace / 'curate.toml'}: [[sources]] images = {str(source.images)!r}: no such folder")
    if "embed" in wanted:
        from .embed.models import weights_location

        weights_location(config.embed.model)  # missing weights: what to fetch and where to put it
    with workspace_lock(workspace, config.runner.lock_wait):
        pass


def nothing_to_do(workspace: Path | str, stages: list[str] | None = None) -> list[dict] | None:
    """When every stage of the rebuild would be skipped (no input, config or code changed):
    each stage's result as the flow would return it ({stage, ran, reason, summary, seconds}),
    so `curate run` can say so without starting an orchestrator; None when any stage must run."""
    recorded = recorded_runs(workspace)
    results = []
    for name in stages or STAGE_NAMES:
        decision = decide(workspace, name)
        if decision.run:
            return None
        results.append(
            {"stage": name, "ran": False, "reason": decision.reason, "summary": recorded[name]["summary"], "seconds": 0.0}
        )
    return results
