"""One writer per workspace: an advisory lock on ``WORKSPACE/.curate.lock``.

Every stage that writes the catalog holds it (``staged_catalog`` takes it); ``curate run`` holds
it for the whole rebuild, so no other command slips in between two stages. A second writer
waits up to ``[runner] lock_wait`` seconds (default 0), then refuses with one line naming the
holder's PID and command. The kernel drops the lock when its holder dies (``kill -9``
included), so a lock is never left behind. Within one process the lock is re-entrant.
Moderators' decisions do not need it: they go to their own journal (:mod:`curation.decisions`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import WorkspaceLocked

log = logging.getLogger(__name__)

LOCK_NAME = ".curate.lock"
HOLDER_GRACE = 2.0  # seconds a refusal waits to name a holder that has just taken (or is leaving) the lock
_held: dict[Path, list] = {}  # resolved workspace -> [file, depth]
_guard = threading.Lock()


def holder(workspace: Path | str) -> dict:
    """What the lock file says about its holder (pid, command, since); {} when unreadable."""
    try:
        return json.loads((Path(workspace) / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "another process"
    return f"PID {info.get('pid')} ({info.get('command', '?')}) since {info.get('since', '?')}"


@contextlib.contextmanager
def workspace_lock(workspace: Path | str, wait: float = 0.0) -> Iterator[None]:
    """Hold the workspace's write lock for the block; waits up to ``wait`` seconds for another holder."""
    key = Path(workspace).resolve()
    with _guard:
        if key in _held:
            _held[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    handle = open(key / LOCK_NAME, "a+")  # noqa: SIM115 (kept open while held)
    deadline = time.monotonic() + max(wait, 0.0)
    told = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                if not holder(key) and time.monotonic() < deadline + HOLDER_GRACE:
                    # the holder has the lock but has not written its name yet, or is letting go
                    time.sleep(0.05)
                    continue
                handle.close()
                raise WorkspaceLocked(
                    f"{key}: locked by {_describe(holder(key))}; wait for it to finish (or set [runner] lock_wait to wait for it)"
                ) from None
            if not told:
                log.warning("waiting for %s: locked by %s", key, _describe(holder(key)))  # the CLI shows warnings
                told = True
            time.sleep(0.2)
    handle.seek(0)
    handle.truncate()
    since = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    handle.write(
        json.dumps({"pid": os.getpid(), "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]), "since": since})
    )
    handle.flush()
    with _guard:
        _held[key] = [handle, 1]
    try:
        yield
    finally:
        with _guard:
            _held.pop(key)
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
