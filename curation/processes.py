"""Worker processes that end with their parent.

A pool's workers wait on a pipe from the parent; killed with ``kill -9``, the parent never
tells them to stop, and they were seen to outlive it. :func:`worker_pool` gives every worker a
watchdog thread that ends the worker once its parent is gone (it is re-parented).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor

POLL_SECONDS = 1.0


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)  # the parent is gone: nobody will read what this worker makes


def exit_with_parent(parent: int | None = None) -> None:
    """Start the watchdog in this (worker) process: it exits once ``parent`` is no longer its parent."""
    threading.Thread(target=_watch, args=(parent or os.getppid(),), daemon=True, name="exit-with-parent").start()


def _start_worker(parent: int) -> None:
    from .images.limits import inherit_pixel_limit

    exit_with_parent(parent)
    inherit_pixel_limit()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each of which exits when this process dies and
    opens image files under the parent's ``[images] max_pixels``."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )


class LazyPool:
    """A :func:`worker_pool` of ``workers`` processes started only when work of at least
    ``min_tasks`` tasks asks for one, shared by a stage's steps, shut down when the block ends.
    Small boards never pay for starting processes."""

    def __init__(self, workers: int, min_tasks: int = 2) -> None:
        self.workers, self.min_tasks = workers, min_tasks
        self._pool: ProcessPoolExecutor | None = None

    def for_tasks(self, tasks: int) -> ProcessPoolExecutor | None:
        """The pool, or None (work in this process) for no workers or fewer than ``min_tasks`` tasks."""
        if self.workers <= 0 or tasks < self.min_tasks:
            return None
        if self._pool is None:
            self._pool = worker_pool(self.workers)
        return self._pool

    @property
    def in_flight(self) -> int:
        """How many tasks to keep submitted: two a worker."""
        return 2 * max(1, self.workers)

    def __enter__(self) -> LazyPool:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def bounded_map(pool: ProcessPoolExecutor | None, fn, argument_lists, in_flight: int):
    """``fn(*arguments)`` for each tuple of ``argument_lists``, in order, in ``pool`` (None: here)
    with at most ``in_flight`` tasks submitted at once, so that the arguments of a long run are
    not all pickled up front."""
    if pool is None:
        for arguments in argument_lists:
            yield fn(*arguments)
        return
    pending: deque = deque()
    for arguments in argument_lists:
        pending.append(pool.submit(fn, *arguments))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
