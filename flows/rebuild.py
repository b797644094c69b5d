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
from curation.runlog import is_transient, notify_failure, record_stage, stage_line

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
    return {"stage": name, "ran": decision.run, "reason": decision.reason, "summary": summary, "seconds": seconds}


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
            "seconds": 0.0,
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
    return {"stage": name, "ran": True, "reason": decision.reason, "summary": summary, "seconds": seconds}


def _stage_task(name: str, dask: bool):
    s = pipeline.stage(name)
    chosen = run_sharded_stage if dask and name in ("images", "embed") else run_stage
    return chosen.with_options(
        name=name, retries=RETRIES_FOR_IO if s.io else 0, retry_delay_seconds=10, retry_condition_fn=_worth_retrying
    )


def _worth_retrying(task, task_run, state) -> bool:
    """Only transient faults are retried (curation.runlog.is_transient): a user's error fails at once."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 (the state holds no readable result: let the retry policy decide)
        return True
    return is_transient(exc if isinstance(exc, BaseException) else None)


def _announce(workspace: str, index: int, total: int, result: dict) -> None:
    """One line per finished stage, to the run logger (the CLI's console hook prints it too),
    and a row of the workspace's run history (`curate runs`)."""
    line = stage_line(index, total, result)
    get_run_logger().info(line)
    record_stage(workspace, _run_id(), _trigger(), result)
    if on_stage_done is not None:
        on_stage_done(index, total, result)


def _run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or "local")


def _trigger() -> str:
    """ "schedule" for a run of a deployment (`curate serve`), "cli" for `curate run` and the demo."""
    from prefect.runtime import deployment

    return "schedule" if deployment.id else "cli"


def _record_failure(workspace: str, name: str, exc: BaseException) -> None:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    result = {"stage": name, "ran": True, "reason": "failed", "seconds": 0.0, "summary": {}}
    record_stage(workspace, _run_id(), _trigger(), result, outcome=f"failed: {first}")


on_stage_done = None  # set by the CLI: called with (index, total, result) as each stage ends


@flow(name="rebuild", log_prints=True)
def rebuild(workspace: str, force: list[str] | None = None, only: list[str] | None = None) -> list[dict]:
    """The whole rebuild, in order: ingest, select, images, embed, dedupe, split, train, suggest, report.

    ``force``: stages to redo even if unchanged ("all" for every one). ``only``: run just these
    stages (the others are neither run nor checked).
    """
    workspace = str(Path(workspace).resolve())
    runner = load_config(workspace).runner
    results = []
    chosen = [name for name in pipeline.STAGE_NAMES if not only or name in only]
    with workspace_lock(workspace, runner.lock_wait):  # no other writer between two stages
        for index, name in enumerate(chosen, start=1):
            try:
                results.append(_stage_task(name, runner.kind == "dask")(workspace, name, list(force or [])))
            except Exception as exc:
                _record_failure(workspace, name, exc)
                notify_failure(runner.notify_url, workspace, name, exc)
                raise
            _announce(workspace, index, len(chosen), results[-1])
    return results


@flow(name="suggest", log_prints=True)
def suggest(workspace: str, force: list[str] | None = None) -> list[dict]:
    """Refresh suggestions only: train (if its inputs changed, e.g. accepted decisions), suggest, report."""
    workspace = str(Path(workspace).resolve())
    results = []
    with workspace_lock(workspace, load_config(workspace).runner.lock_wait):
        for index, name in enumerate(("train", "suggest", "report"), start=1):
            results.append(_stage_task(name, False)(workspace, name, list(force or [])))
            _announce(workspace, index, 3, results[-1])
    return results
