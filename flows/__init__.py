"""Prefect flows over the curation library (which never imports Prefect itself)."""

import os

# Worker processes forked from a process running Prefect die at start (exit code 1); spawned
# ones are fine. curation's DataLoaders honour this setting.
os.environ.setdefault("CURATE_WORKER_START", "spawn")
