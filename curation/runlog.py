"""What a rebuild tells its operator: one line per stage as it ends, and a closing summary.

Pure text from the stage summaries (:func:`curation.pipeline.summarise`); the CLI prints it,
the scheduled flow logs it. Also the retry policy: which failures are worth another try.
"""

from __future__ import annotations

import errno
from pathlib import Path

from .errors import CurationError

TRANSIENT_ERRNOS = {errno.EIO, errno.ETIMEDOUT, errno.EAGAIN, errno.ESTALE, errno.ECONNRESET, errno.EHOSTUNREACH,
                    errno.ENETUNREACH, errno.ECONNREFUSED, errno.EBUSY}  # fmt: skip
TRANSIENT_NAMES = {"CommClosedError", "KilledWorker", "StreamClosedError"}  # distributed: a worker or link lost


def is_transient(exc: BaseException | None) -> bool:
    """Whether a failure may pass on its own (a file system that timed out, a lost Dask worker):
    only those are retried. The user's errors (CurationError: config, sources, unparseable dumps,
    missing weights, a locked workspace) and bugs never are."""
    if exc is None or isinstance(exc, CurationError):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, OSError):
        return exc.errno in TRANSIENT_ERRNOS
    return type(exc).__name__ in TRANSIENT_NAMES


def _count(value) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def what_changed(stage: str, summary: dict) -> str:
    """A stage summary in a few words: what it added, changed or found."""
    s = summary
    if stage == "ingest":
        sources = [x for x in s.get("sources", []) if isinstance(x, dict)]
        new = sum(_count(x.get("new")) for x in sources)
        changed = sum(_count(x.get("changed")) for x in sources)
        removed = sum(_count(x.get("removed")) for x in sources)
        return f"+{new} posts, {changed} changed, {removed} removed; {s.get('posts', 0)} live, {s.get('rejects', 0)} rejects"
    if stage == "select":
        return f"{s.get('posts', 0)} posts, {s.get('tags', 0)} label tags"
    if stage == "images":
        statuses = s.get("statuses") or {}
        bad = sum(n for k, n in statuses.items() if k != "ok")
        return f"+{s.get('inspected', 0)} files, {statuses.get('ok', 0)} ok, {bad} not usable"
    if stage == "embed":
        return f"+{s.get('embedded', 0)} files ({s.get('cached', 0)} cached)"
    if stage == "dedupe":
        return f"{s.get('groups', 0)} duplicate groups holding {s.get('grouped_posts', 0)} posts"
    if stage == "split":
        return ", ".join(f"{n} {k}" for k, n in (s.get("posts") or {}).items())
    if stage == "train":
        if s.get("mode") == "topped up":
            return (
                f"kept the heads ({s.get('changed_share', 0.0):.1%} changed since they trained): "
                f"+{s.get('new_posts', 0)} posts predicted, {s.get('removed_posts', 0)} removed"
            )
        return f"{s.get('folds', 0)} folds, {s.get('posts', 0)} posts x {s.get('tags', 0)} tags"
    if stage == "suggest":
        return f"{s.get('adds', 0)} add, {s.get('removes', 0)} remove suggestions"
    if stage == "report":
        return str(s.get("path", ""))
    return ""


def stage_line(index: int, total: int, result: dict) -> str:
    """``3/9 images    ran      12.4 s  +40 files, 2 rejected`` or ``4/9 embed  skipped  inputs unchanged``."""
    head = f"{index}/{total} {result['stage']:<8}"
    if result["ran"]:
        return f"{head} ran      {result.get('seconds', 0.0):6.1f} s  {what_changed(result['stage'], result['summary'])}"
    return f"{head} skipped           {result['reason']}"


def closing_summary(results: list[dict], seconds: float, workspace: Path) -> list[str]:
    """The last lines of a run: time, what ran, where the outputs are, what to do next."""
    ran = [r["stage"] for r in results if r["ran"]]
    out = Path(workspace) / "out"
    lines = [f"done in {seconds:.1f} s: {len(ran)} of {len(results)} stages ran" + (f" ({', '.join(ran)})" if ran else "")]
    outputs = [("suggestions", out / "suggestions.json"), ("splits", out / "splits"), ("report", out / "report.html")]
    present = [f"{name} {path}" for name, path in outputs if path.exists()]
    if present:
        lines.append("outputs: " + "; ".join(present))
    if (out / "suggestions.json").exists():
        lines.append(f"next: review the queue with `curate review {workspace} --serve`, or open {out / 'report.html'}")
    return lines


def record_stage(workspace: Path | str, run_id: str, trigger: str, result: dict, outcome: str = "ok") -> None:
    """One stage of a rebuild into ``run_history`` (in place: one row, under the workspace lock)."""
    import datetime as dt

    from .catalog import catalog_in_place

    with catalog_in_place(workspace) as cat:
        cat.con.execute(
            "INSERT INTO run_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, trigger, result["stage"], result.get("ran", False), result.get("reason", ""),
             dt.datetime.now(dt.UTC).replace(tzinfo=None), result.get("seconds", 0.0),
             what_changed(result["stage"], result.get("summary") or {}) if result.get("ran") else "", outcome],
        )  # fmt: skip


def recent_runs(workspace: Path | str, last: int = 5) -> list[dict]:
    """The ``last`` rebuilds, newest first: {run_id, trigger, started, finished, seconds, stages: [...]}."""
    from .catalog import open_catalog

    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("run_history"):
            return []
        rows = cat.rows(
            "WITH runs AS (SELECT run_id, max(finished_at) AS last FROM run_history GROUP BY run_id "
            "ORDER BY last DESC LIMIT ?) "
            "SELECT h.run_id, h.trigger, h.stage, h.ran, h.reason, h.finished_at, h.seconds, h.changed, h.outcome "
            "FROM run_history h JOIN runs USING (run_id) ORDER BY runs.last DESC, h.finished_at",
            [last],
        )
    runs: dict[str, dict] = {}
    for run_id, trigger, stage, ran, reason, finished, seconds, changed, outcome in rows:
        run = runs.setdefault(run_id, {"run_id": run_id, "trigger": trigger, "finished": finished, "seconds": 0.0, "stages": []})
        run["finished"] = max(run["finished"], finished)
        run["seconds"] += seconds or 0.0
        run["stages"].append({"stage": stage, "ran": ran, "reason": reason, "seconds": seconds, "changed": changed,
                              "outcome": outcome})  # fmt: skip
    return list(runs.values())


def notify_failure(url: str, workspace: Path | str, stage: str, exc: BaseException) -> bool:
    """POST a failed rebuild to ``[runner] notify_url`` as JSON ({"event", "workspace", "stage",
    "error", "error_kind"}); a notification that cannot be sent is logged, never raised."""
    import json
    import logging
    import urllib.request

    if not url:
        return False
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    body = {"event": "rebuild failed", "workspace": str(workspace), "stage": stage, "error": first,
            "error_kind": "user" if isinstance(exc, CurationError) else "internal"}  # fmt: skip
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return 200 <= answer.status < 300
    except OSError as err:
        logging.getLogger(__name__).warning("could not notify %s of the failed rebuild: %s", url, err)
        return False
