"""Process settings every flow module applies on import."""

import os


def configure_process() -> None:
    """Worker processes forked from a process running Prefect die at start (exit code 1); spawned
    ones are fine. curation's DataLoaders honour CURATE_WORKER_START."""
    os.environ.setdefault("CURATE_WORKER_START", "spawn")
