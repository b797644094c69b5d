"""``curate doctor``: what to check before a first run, or when one fails. One line a check."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import CurationError

PACKAGES = ("duckdb", "polars", "torch", "faiss-cpu", "faiss-gpu-cu12", "cleanlab", "prefect", "open_clip_torch", "timm")
DEFAULT_MODEL = "timm:efficientnet_lite0"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


def _versions() -> Check:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    python = ".".join(map(str, sys.version_info[:3]))
    status = "ok" if sys.version_info >= (3, 11) else "fail"
    return Check("versions", status, f"python {python}; " + ", ".join(found))


def _weights(model: str) -> Check:
    from .embed.models import weights_location

    try:
        return Check("embedder", "ok", f"{model}: weights at {weights_location(model)}")
    except CurationError as exc:
        return Check("embedder", "fail", str(exc))


def _gpu() -> Check:
    import faiss
    import torch

    cuda = torch.cuda.is_available()
    faiss_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if cuda and faiss_gpus:
        return Check("gpu", "ok", f"CUDA ({torch.cuda.get_device_name(0)}) for embeddings, faiss on {faiss_gpus} GPU(s)")
    if cuda:
        return Check("gpu", "warn", "CUDA for embeddings; faiss is the CPU build (pip install -e '.[gpu]' for its CUDA build)")
    return Check("gpu", "ok", "no GPU: embeddings and faiss run on the CPU")


def _disk(workspace: Path) -> Check:
    """A stage writes its tables beside the catalog before they land: at most about its size again, plus room."""
    catalog = workspace / "catalog.duckdb"
    size = catalog.stat().st_size if catalog.exists() else 0
    free = shutil.disk_usage(workspace).free
    needed = 2 * size + (1 << 30)
    detail = f"{free / 2**30:.1f} GiB free in {workspace}; a rebuild needs about {needed / 2**30:.1f} GiB"
    detail += f" (the catalog is {size / 2**20:.0f} MiB)"
    return Check("disk", "ok" if free >= needed else "fail" if free < size + (1 << 28) else "warn", detail)


def _prefect() -> Check:
    url = os.environ.get("PREFECT_API_URL")
    if url:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=3) as answer:
                ok = answer.status == 200
        except OSError as exc:
            return Check("prefect", "fail", f"PREFECT_API_URL={url} does not answer ({exc}); start the server or unset it")
        return Check("prefect", "ok" if ok else "fail", f"server at {url} is {'healthy' if ok else 'not healthy'}")
    try:
        importlib.metadata.version("prefect")
    except importlib.metadata.PackageNotFoundError:
        return Check("prefect", "fail", "prefect is not installed")
    detail = "no PREFECT_API_URL: `curate run` starts a temporary local server (15-30 s); schedules need a real one"
    return Check("prefect", "ok", detail)


def _workspace(workspace: Path) -> list[Check]:
    from .config import load_config
    from .pipeline import preflight

    out = []
    try:
        config = load_config(workspace)
    except CurationError as exc:
        return [Check("config", "fail", str(exc))]
    out.append(Check("config", "ok", f"{workspace / 'curate.toml'}: {len(config.sources)} sources"))
    try:
        preflight(workspace)
        out.append(Check("inputs", "ok", "every source and images folder is there; the workspace is not locked"))
    except CurationError as exc:
        out.append(Check("inputs", "fail", str(exc)))
    out.append(_weights(config.embed.model))
    out.append(_disk(workspace))
    return out


def run_checks(workspace: Path | None = None) -> list[Check]:
    """Every check, in the order a user would fix them."""
    checks = [_versions()]
    if workspace is not None:
        checks += _workspace(Path(workspace))
    else:
        checks.append(_weights(DEFAULT_MODEL))
    checks += [_gpu(), _prefect()]
    return checks
