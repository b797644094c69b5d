"""``[tagger] finetune``: each fold fine-tunes the embedder's last stages with its head.

A head on frozen pooled embeddings cannot learn what pooling lost: on the synthetic boards the
details a few pixels wide (eye colours, a smile, a glyph's size) that most missing tags are. With
``finetune = true`` each fold's head also trains the backbone's last ``finetune_blocks`` stages
and its final 1 x 1 convolution, so the pooled features become the fold's own.

The frozen part of the backbone runs once per file, not once per fold and epoch: its output (the
"trunk maps", (C, h, w) float16 a file; 112 x 14 x 14 = 44 KB for efficientnet_lite0 at 224
pixels with 2 stages tuned) is cached by file md5 under ``WORKSPACE/cache/trunk/<key>/``, where
the key names the embedder (model, weights, preprocessing) and the cut, so a rebuild computes
maps only for new files. Batch norms keep their ImageNet statistics (they are not updated by
the small batches of one fold).

Only timm models laid out as EfficientNet / MobileNet (``blocks``, ``conv_head``, ``bn2``) can
be cut this way, among them the offline default ``timm:efficientnet_lite0``.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import numpy as np

from ..embed.models import Embedder, load_embedder
from ..embed.store import embedder_slug
from ..errors import ConfigError
from ..progress import progress

log = logging.getLogger(__name__)
TRUNK_DIR = Path("cache") / "trunk"
PART_ROWS = 2048  # trunk maps written per file: an interrupted run keeps every finished part


def load_backbone(embed_cfg, device: str) -> Embedder:
    """The configured embedder, checked to be one whose last stages can be tuned apart."""
    if not embed_cfg.model.startswith("timm:"):
        raise ConfigError(
            f"[tagger] finetune = true needs a timm EfficientNet-style embedder (stages in `blocks`, then "
            f"`conv_head`); [embed] model = {embed_cfg.model!r} is not one (use finetune = false)"
        )
    embedder = load_embedder(embed_cfg.model, device, embed_cfg.image_size or None, embed_cfg.preprocess, embed_cfg.background)
    network = embedder.network
    if not all(hasattr(network, name) for name in ("conv_stem", "bn1", "blocks", "conv_head", "bn2")):
        raise ConfigError(
            f"[tagger] finetune = true: {embed_cfg.model} is not laid out as EfficientNet/MobileNet "
            "(conv_stem, blocks, conv_head, bn2), so its last stages cannot be tuned apart; use finetune = false"
        )
    return embedder


def cut_of(network, blocks: int) -> int:
    """The index of the first tuned stage in ``network.blocks``."""
    stages = len(network.blocks)
    if not 1 <= blocks <= stages:
        raise ConfigError(f"[tagger] finetune_blocks = {blocks}: this backbone has {stages} stages (use 1 to {stages})")
    return stages - blocks


def tail_module(network, blocks: int):
    """A trainable copy of the backbone's last ``blocks`` stages and final convolution:
    (B, C, h, w) trunk maps -> (B, D) pooled features of unit length, as the stored embeddings are."""
    import torch

    class Tail(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = copy.deepcopy(network.blocks[cut_of(network, blocks) :]).float()
            self.conv_head = copy.deepcopy(network.conv_head).float()
            self.bn2 = copy.deepcopy(network.bn2).float()
            self.dim = network.num_features

        def forward(self, x):
            for stage in self.blocks:
                x = stage(x)
            pooled = self.bn2(self.conv_head(x)).mean((2, 3))
            return torch.nn.functional.normalize(pooled, dim=1)

        def train(self, mode: bool = True):
            super().train(mode)
            for module in self.modules():  # ImageNet statistics stay: one fold's small batches would skew them
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()
            return self

    return Tail()


class TrunkStore:
    """Trunk maps by file md5: ``part_<n>.npy`` (n, C, h, w) float16 and ``part_<n>.md5.npy`` (n,)
    its files, the second written last (a part without it is unfinished and ignored)."""

    def __init__(self, workspace: Path, key: str) -> None:
        self.folder = Path(workspace) / TRUNK_DIR / embedder_slug(key)

    def parts(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(p.name.split("_")[1].split(".")[0]) for p in self.folder.glob("part_*.md5.npy"))

    def index(self) -> dict[str, tuple[int, int]]:
        """md5 -> (part, row)."""
        out: dict[str, tuple[int, int]] = {}
        for part in self.parts():
            for row, md5 in enumerate(np.load(self.folder / f"part_{part:06d}.md5.npy").tolist()):
                out[md5] = (part, row)
        return out

    def write(self, part: int, md5s: list[str], maps: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, array in ((f"part_{part:06d}.npy", maps.astype(np.float16)), (f"part_{part:06d}.md5.npy", np.array(md5s))):
            tmp = self.folder / (name + ".tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, array)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.folder / name)

    def gather(self, locations: list[tuple[int, int]]) -> np.ndarray:
        """(N, C, h, w) float16 for (part, row) ``locations``, in order."""
        parts = np.array([p for p, _ in locations], dtype=np.int64)
        rows = np.array([r for _, r in locations], dtype=np.int64)
        out = None
        for part in np.unique(parts):
            maps = np.load(self.folder / f"part_{int(part):06d}.npy", mmap_mode="r")
            if out is None:
                out = np.empty((len(locations), *maps.shape[1:]), dtype=np.float16)
            where = np.flatnonzero(parts == part)
            out[where] = maps[rows[where]]
        return out if out is not None else np.zeros((0, 0, 0, 0), dtype=np.float16)


def trunk_maps(workspace: Path, embed_cfg, embedder: Embedder, blocks: int, md5s: list[str], paths: list[str]):
    """(has (N,) bool, maps (M, C, h, w) float16 for the M files that have them, in order) for
    the files ``md5s`` at ``paths`` (N,): cached maps are read, the others computed first with
    ``embedder`` (from :func:`load_backbone`)."""
    from ..embed.stage import batches

    store = TrunkStore(workspace, f"{embedder.id}|trunk-{blocks}")
    known = store.index()
    todo = sorted({(m, p) for m, p in zip(md5s, paths) if m not in known and p})
    if todo:
        import torch

        network, cut = embedder.network, cut_of(embedder.network, blocks)
        part = max(store.parts(), default=-1) + 1
        pending_md5: list[str] = []
        pending: list[np.ndarray] = []
        with progress(f"trunk maps for fine-tuning ({embedder.device})", len(todo)) as advance:
            for indices, batch, bad in batches([p for _, p in todo], embedder, embed_cfg.batch_size, embed_cfg.workers):
                for i, error in bad:
                    log.warning("%s: no trunk maps (%s); its post gets no prediction", todo[i][1], error)
                if batch is not None:
                    with torch.inference_mode():
                        x = batch.to(embedder.device)
                        x = network.bn1(network.conv_stem(x.half() if embedder.half else x))
                        for stage in network.blocks[:cut]:
                            x = stage(x)
                    pending.append(x.float().cpu().numpy().astype(np.float16))
                    pending_md5.extend(todo[i][0] for i in indices)
                if len(pending_md5) >= PART_ROWS:
                    store.write(part, pending_md5, np.concatenate(pending))
                    part, pending_md5, pending = part + 1, [], []
                advance(len(indices) + len(bad))
            if pending_md5:
                store.write(part, pending_md5, np.concatenate(pending))
        known = store.index()
    has = np.array([m in known for m in md5s], dtype=bool)
    return has, store.gather([known[m] for m, h in zip(md5s, has) if h])
