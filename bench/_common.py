"""Helpers shared by the benchmark scripts (run as `python bench/NAME.py`, so importable as `_common`)."""

from __future__ import annotations

import subprocess
import sys


def curate(*args: str) -> None:
    """Run one `curate` command quietly in a fresh process; raise if it fails."""
    subprocess.run([sys.executable, "-m", "curation.cli", "-q", *args], check=True, stdout=subprocess.DEVNULL)
