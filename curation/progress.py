"""Progress bars for loops a user waits on.

The library reports progress through :func:`progress`; whether a bar is drawn is decided by
the caller (the CLI turns bars on for terminals), so library code and tests stay quiet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

_enabled = False


def enable(on: bool) -> None:
    """Draw rich progress bars on stderr (the CLI's choice, not the library's)."""
    global _enabled
    _enabled = on


@contextlib.contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a bar with ETA when enabled, does nothing otherwise."""
    if not _enabled:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True, markup=False), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
