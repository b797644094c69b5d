"""The images and embed stages spread over a Dask cluster, shards by file md5.

The flow plans on the driver (read-only), sends one task per shard to the cluster through
prefect-dask's DaskTaskRunner (workers only read files and, for embed, write shard files; they
never touch the catalog, which has one writer), then commits all results in one step. With no
address, a LocalCluster of ``workers`` single-threaded processes on this machine is used.
"""

from __future__ import annotations

import os
import tempfile

from prefect import flow, task

from curation.config import load_config
from curation.embed.stage import EmbedPart, commit_embed, embed_part, plan_embed
from curation.images.stage import ImagesPlan, commit_images, inspect_plan, plan_images, shard_plan

from ._runtime import configure_process

configure_process()


def dask_runner(address: str | None, workers: int):
    from prefect_dask import DaskTaskRunner

    os.environ.setdefault("DASK_TEMPORARY_DIRECTORY", tempfile.gettempdir())
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "dashboard_address": None, "host": "127.0.0.1"},
    )


@task(name="inspect-shard")
def inspect_shard(workspace: str, part: ImagesPlan) -> list[dict]:
    return inspect_plan(part, load_config(workspace).images, workers=1)


@task(name="embed-shard")
def embed_shard(workspace: str, part: EmbedPart):
    return embed_part(workspace, part, index=False, loader_workers=0)  # the cluster's workers are the parallelism


def _images(workspace: str, shards: int):
    plan = plan_images(workspace)
    parts = shard_plan(plan, shards)
    futures = [inspect_shard.submit(workspace, part) for part in parts]
    rows = [row for f in futures for row in f.result()]
    return commit_images(workspace, rows, plan.unchanged)


def _embed(workspace: str, shards: int):
    embedder, cached, parts = plan_embed(workspace, shards)
    futures = [embed_shard.submit(workspace, part) for part in parts]
    report = commit_embed(workspace, embedder, parts, [f.result() for f in futures])
    report.cached = cached
    return report


def images_on_dask(workspace: str, address: str | None = None, workers: int = 2, shards: int | None = None):
    """Run the images stage over Dask; returns its ImagesReport."""
    runner = dask_runner(address, workers)
    return flow(name="images-on-dask", task_runner=runner)(_images)(workspace, shards or 4 * workers)


def embed_on_dask(workspace: str, address: str | None = None, workers: int = 2, shards: int | None = None):
    """Run the embed stage over Dask; returns its EmbedReport."""
    runner = dask_runner(address, workers)
    return flow(name="embed-on-dask", task_runner=runner)(_embed)(workspace, shards or workers)
