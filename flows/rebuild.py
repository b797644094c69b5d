"""The rebuild and suggest flows: one task per stage, each a thin wrapper over curation functions.

A stage task asks :mod:`curation.pipeline` whether the stage must run (its fingerprint
changed, or ``force`` names it), runs it or logs why it is skipped, and publishes the stage's
summary as a Markdown artifact. With ``[runner] kind = "dask"`` the images and embed stages
shard their files by md5 over a Dask cluster (:mod:`flows.sharded`).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from curation import pipeline
from curation.config import load_config
from curation.lock import workspace_lock

from ._runtime import configure_process
from .sharded import embed_on_dask, images_on_dask

configure_process()

RETRIES_FOR_IO = 2


def _publish(name: str, summary: dict, seconds: float) -> None:
    create_markdown_artifact(
        key=f"{name}-summary", markdown=pipeline.markdown(name, summary, seconds), description=f"booru-curate {name} stage"
    )


@task(name="stage")
def run_stage(workspace: str, name: str, force: list[str]) -> dict:
    """Run one stage unless its inputs are unchanged; returns {stage, ran, reason, summary}."""
    logger = get_run_logger()
    decision, summary, seconds = pipeline.run_stage(workspace, name, set(force))
    if decision.run:
        logger.info("%s ran in %.1fs: %s", name, seconds, decision.reason)
        _publish(name, summary, seconds)
    else:
        logger.info("%s skipped: %s", name, decision.reason)
    return {"stage": name, "ran": decision.run, "reason": decision.reason, "summary": summary}


@task(name="sharded-stage")
def run_sharded_stage(workspace: str, name: str, force: list[str]) -> dict:
    """images or embed with their files spread over the Dask cluster of [runner]."""
    logger = get_run_logger()
    decision = pipeline.decide(workspace, name, set(force))
    if not decision.run:
        logger.info("%s skipped: %s", name, decision.reason)
        return {
            "stage": name,
            "ran": False,
            "reason": decision.reason,
            "summary": pipeline.recorded_runs(workspace)[name]["summary"],
        }
    runner = load_config(workspace).runner
    shards = images_on_dask if name == "images" else embed_on_dask
    import time

    started = time.perf_counter()
    report = shards(workspace, runner.address or None, runner.workers)
    seconds = time.perf_counter() - started
    summary = pipeline.summarise(report)
    pipeline.record(workspace, name, pipeline.fingerprint(workspace, name), seconds, summary)
    logger.info("%s ran on Dask in %.1fs: %s", name, seconds, decision.reason)
    _publish(name, summary, seconds)
    return {"stage": name, "ran": True, "reason": decision.reason, "summary": summary}


def _stage_task(name: str, dask: bool):
    s = pipeline.stage(name)
    chosen = run_sharded_stage if dask and name in ("images", "embed") else run_stage
    return chosen.with_options(name=name, retries=RETRIES_FOR_IO if s.io else 0, retry_delay_seconds=10)


@flow(name="rebuild", log_prints=True)
def rebuild(workspace: str, force: list[str] | None = None, only: list[str] | None = None) -> list[dict]:
    """The whole rebuild, in order: ingest, select, images, embed, dedupe, split, train, suggest, report.

    ``force``: stages to redo even if unchanged ("all" for every one). ``only``: run just these
    stages (the others are neither run nor checked).
    """
    workspace = str(Path(workspace).resolve())
    runner = load_config(workspace).runner
    results = []
    with workspace_lock(workspace, runner.lock_wait):  # no other writer between two stages
        for name in pipeline.STAGE_NAMES:
            if only and name not in only:
                continue
            results.append(_stage_task(name, runner.kind == "dask")(workspace, name, list(force or [])))
    return results


@flow(name="suggest", log_prints=True)
def suggest(workspace: str, force: list[str] | None = None) -> list[dict]:
    """Refresh suggestions only: train (if its inputs changed, e.g. accepted decisions), suggest, report."""
    workspace = str(Path(workspace).resolve())
    with workspace_lock(workspace, load_config(workspace).runner.lock_wait):
        return [_stage_task(name, False)(workspace, name, list(force or [])) for name in ("train", "suggest", "report")]
