"""Where the orchestrators' own logs go: ``WORKSPACE/cache/logs/run.log``, not the console.

Prefect reads its logging config from ``PREFECT_LOGGING_SETTINGS_PATH`` when it is imported;
Dask's ``distributed`` reads ``logging`` from its config (``DASK_CONFIG``) in every process it
starts, workers included. Both are pointed at files written here, so that a rebuild's console
holds only curate's own lines; ``-v`` leaves both libraries as they are (console). Prefect's
API handler stays, so the Prefect UI still shows every run's logs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LOG_NAME = "run.log"


def log_folder(workspace: Path | str) -> Path:
    return Path(workspace).resolve() / "cache" / "logs"


def route_library_logs(workspace: Path | str) -> Path:
    """Send Prefect's and Dask's logs to the workspace's log file (unless the user configured
    their own). Call before Prefect or distributed is imported. Returns the log file."""
    folder = log_folder(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    log_file = folder / LOG_NAME
    handler = {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain", "encoding": "utf-8"}
    plain = {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    prefect = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": plain},
        "handlers": {"file": handler, "api": {"level": 0, "class": "prefect.logging.handlers.APILogHandler"}},
        "loggers": {
            "prefect": {"level": "INFO", "handlers": ["file"], "propagate": False},
            "prefect.flow_runs": {"level": "NOTSET", "handlers": ["file", "api"], "propagate": False},
            "prefect.task_runs": {"level": "NOTSET", "handlers": ["file", "api"], "propagate": False},
            "prefect.extra": {"level": "INFO", "handlers": ["file", "api"], "propagate": False},
            "prefect.server": {"level": "WARNING", "handlers": ["file"], "propagate": False},
            "prefect._internal": {"level": "ERROR", "handlers": ["file"], "propagate": False},
            "uvicorn": {"level": "WARNING", "handlers": ["file"], "propagate": False},
            "fastapi": {"level": "WARNING", "handlers": ["file"], "propagate": False},
            "distributed": {"level": "INFO", "handlers": ["file"], "propagate": False},
        },
        "root": {"level": "WARNING", "handlers": ["file"]},
    }
    settings = folder / "prefect-logging.json"  # YAML is a superset of JSON: Prefect reads it as YAML
    settings.write_text(json.dumps(prefect, indent=1))
    os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(settings))
    dask_folder = folder / "dask"
    dask_folder.mkdir(exist_ok=True)
    dask = {
        "logging": {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": plain},
            "handlers": {"file": handler},
            "loggers": {
                name: {"level": "INFO", "handlers": ["file"], "propagate": False}
                for name in ("distributed", "bokeh", "tornado", "tornado.application")
            },  # fmt: skip
        }
    }
    (dask_folder / "logging.yaml").write_text(json.dumps(dask, indent=1))
    os.environ.setdefault("DASK_CONFIG", str(dask_folder))
    return log_file
