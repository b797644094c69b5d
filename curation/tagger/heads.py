"""Multi-label heads on frozen embeddings, and their training. Torch only; no files.

A head maps (B, D) embeddings to (B, K) tag logits and (B, 4) rating logits (g, s, q, e). It
scales its input by sqrt(D) first: embeddings arrive L2-normalised, so each of their D values is
about 1/sqrt(D) (0.03 at 1,280 dims), and a linear head trained for a few hundred steps on values
that small underfits (on a 5,000-post synth board, linear heads alone ranked missing tags at AP
0.11 unscaled and 0.22 scaled; the whole tagger went from 0.27 to 0.36 on two boards).
Labels arrive as CSR rows (``indptr``, ``indices``: post i has tags indices[indptr[i]:indptr[i+1]])
so that N x K never has to be dense; each batch is made dense on the fly.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import TaggerConfig

RATINGS = ("g", "s", "q", "e")
_DEFAULTS = TaggerConfig()
MIN_STEPS = 25  # optimiser steps per epoch at least


@dataclass(frozen=True)
class TrainOptions:
    """How a head is trained; the defaults are ``[tagger]``'s (weight decay and width are not settings)."""

    head: str = _DEFAULTS.head  # linear | mlp
    epochs: int = _DEFAULTS.epochs
    max_steps: int = _DEFAULTS.max_steps  # the epochs stop short of this many optimiser steps
    batch_size: int = _DEFAULTS.batch_size
    learning_rate: float = _DEFAULTS.learning_rate
    weight_decay: float = 1e-4
    prior_weighted_loss: bool = _DEFAULTS.prior_weighted_loss
    loss: str = _DEFAULTS.loss  # bce | asymmetric
    early_stopping: bool = _DEFAULTS.early_stopping
    patience: int = _DEFAULTS.patience
    hidden: int = 1024  # mlp
    seed: int = 0
    finetune_blocks: int = 0  # backbone stages trained with the head (0: a head on frozen embeddings)

    @classmethod
    def from_config(cls, cfg: TaggerConfig, seed: int) -> TrainOptions:
        tuned = cfg.finetune  # fine-tuning has its own epochs, batch size and learning rate
        return cls(
            head=cfg.head,
            epochs=cfg.finetune_epochs if tuned else cfg.epochs,
            max_steps=cfg.max_steps,
            batch_size=cfg.finetune_batch_size if tuned else cfg.batch_size,
            learning_rate=cfg.finetune_learning_rate if tuned else cfg.learning_rate,
            prior_weighted_loss=cfg.prior_weighted_loss,
            loss=cfg.loss,
            early_stopping=cfg.early_stopping and not tuned,
            patience=cfg.patience,
            seed=seed,
            finetune_blocks=cfg.finetune_blocks if tuned else 0,
        )


def build_head(dim: int, tags: int, options: TrainOptions, features=None):
    """A head over (B, dim) unit vectors; with ``features`` (a module making those vectors from
    its own input, e.g. :func:`curation.tagger.finetune.tail_module`) it is trained with the head."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = features if features is not None else torch.nn.Identity()
            self.scale = math.sqrt(dim)  # unit-length rows -> values of about 1 (module docstring)
            if options.head == "mlp":
                self.body = torch.nn.Sequential(torch.nn.Linear(dim, options.hidden), torch.nn.GELU(), torch.nn.Dropout(0.1))
                width = options.hidden
            else:
                self.body = torch.nn.Identity()
                width = dim
            self.tags = torch.nn.Linear(width, tags)
            self.rating = torch.nn.Linear(width, len(RATINGS))

        def forward(self, x):
            h = self.body(self.features(x) * self.scale)
            return self.tags(h), self.rating(h)

    return Head()


@dataclass
class SavedHead:
    """A trained head as saved beside its predictions: weights and the tag names of its rows."""

    state: dict  # torch state_dict
    tags: list[str]  # (K_saved,) the tag of each row of tags.weight
    head: str
    hidden: int
    dim: int
    finetune_blocks: int = 0  # backbone stages inside it (its ``features.*`` weights)


def save_head(model, path: Path, tags: list[str], options: TrainOptions) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    dim = model.body[0].in_features if options.head == "mlp" else model.tags.in_features
    # half precision: the saved head only seeds the next rebuild's training, and is rewritten on
    # every rebuild, so its size is bytes a delta writes (1,235 tags x 1,280 dims: 6.3 -> 3.2 MB)
    state = {name: value.half() if value.is_floating_point() else value for name, value in model.state_dict().items()}
    torch.save(
        {
            "state": state,
            "tags": list(tags),
            "head": options.head,
            "hidden": options.hidden,
            "dim": dim,
            "finetune_blocks": options.finetune_blocks,
        },
        path,
    )


def load_head(path: Path) -> SavedHead | None:
    """The head saved at ``path``; None when there is none or it does not load (from scratch then)."""
    import torch

    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        state = {name: value.float() if value.is_floating_point() else value for name, value in saved["state"].items()}
        return SavedHead(
            state,
            list(saved["tags"]),
            saved["head"],
            int(saved["hidden"]),
            int(saved["dim"]),
            int(saved.get("finetune_blocks", 0)),
        )
    except Exception as exc:  # a damaged or foreign file costs a cold start, never the run
        import logging

        logging.getLogger(__name__).warning("%s: not loaded (%s); that fold's head starts from scratch", path, exc)
        return None


def head_model(saved: SavedHead, tags: list[str], device: str = "cpu", features=None):
    """A saved head ready to predict; its tag rows must be ``tags`` (K,), in order. A fine-tuned
    head needs ``features``: a module of the same layout, whose weights are then the saved ones."""
    if saved is None or saved.tags != list(tags):
        raise ValueError("the saved head does not predict these tags")
    options = TrainOptions(head=saved.head, hidden=saved.hidden, finetune_blocks=saved.finetune_blocks)
    model = build_head(saved.dim, len(saved.tags), options, features)
    model.load_state_dict(saved.state)
    return model.to(device).eval()


def _continue_from(model, saved: SavedHead, tag_names: list[str]) -> int:
    """Copy ``saved``'s weights into ``model``: shared layers whole, tag rows by tag name (rows
    of tags the saved head lacks keep their fresh start). Returns how many tag rows were copied."""
    import torch

    row_of = {t: i for i, t in enumerate(saved.tags)}
    new_rows = [i for i, t in enumerate(tag_names) if t in row_of]
    old_rows = [row_of[tag_names[i]] for i in new_rows]
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("tags."):
                param[new_rows] = saved.state[name][old_rows].to(param.device)
            else:
                param.copy_(saved.state[name])
    return len(new_rows)


def csr_entries(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR ``rows``: (position of each entry in ``rows``, its index into the CSR data)."""
    starts, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
    which = np.repeat(np.arange(len(rows)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return which, np.arange(int(lengths.sum())) - first + np.repeat(starts, lengths)


def dense_labels(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray, tags: int) -> np.ndarray:
    """(len(rows), tags) float32 0/1 for the given CSR rows."""
    out = np.zeros((len(rows), tags), dtype=np.float32)
    which, entries = csr_entries(indptr, rows)
    out[which, indices[entries]] = 1.0
    return out


def training_plan(rows: int, options: TrainOptions) -> tuple[int, int, int]:
    """(epochs, batch size, optimiser steps per epoch) for a head trained on ``rows`` posts.
    Small boards get smaller batches, so that every epoch still takes ``MIN_STEPS`` steps; large
    ones stop after the whole epochs that fit in ``max_steps`` (at least one), so training time
    grows with the board only until the step budget is spent."""
    batch_size = max(1, min(options.batch_size, -(-rows // MIN_STEPS)))
    per_epoch = max(1, -(-rows // batch_size))
    return max(1, min(options.epochs, options.max_steps // per_epoch)), batch_size, per_epoch


ASL_GAMMA_NEG, ASL_CLIP = 4, 0.05  # the paper's defaults for multi-label image tagging


def tag_loss(logits, target, prior, options: TrainOptions):
    """The tag loss of a batch: (B, K) logits and 0/1 targets, (K,) tag priors -> a scalar.

    ``bce``: binary cross-entropy. ``asymmetric``: the asymmetric loss of Ridnik et al. (2021)
    for labels with missing positives: a negative's probability is shifted down by 0.05 (a sure
    negative costs nothing) and its loss scaled by p^4, so the many unlabelled pairs of a tag,
    some of them missing positives, weigh less than the labelled ones. ``prior_weighted_loss``
    weights each negative by 1 - the tag's prior on top of either."""
    import torch
    import torch.nn.functional as F

    weight = torch.maximum(target, 1 - prior) if options.prior_weighted_loss else None
    if options.loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, weight)
    p = torch.sigmoid(logits)
    shifted = (p - ASL_CLIP).clamp(min=0)
    positive = target * torch.log(p.clamp(min=1e-8))
    negative = (1 - target) * shifted.pow(ASL_GAMMA_NEG) * torch.log((1 - shifted).clamp(min=1e-8))
    loss = -(positive + negative)
    return (loss * weight).mean() if weight is not None else loss.mean()


def held_out_loss(model, x, indptr, indices, rows, tags, prior, options: TrainOptions, device: str) -> float:
    """The tag loss over the posts ``rows`` (the fold's held-out posts), in inference mode."""
    import torch

    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(rows), 4096):
            batch = rows[start : start + 4096]
            tag_logits, _ = model(torch.from_numpy(np.asarray(x[batch], dtype=np.float32)).to(device))
            target = torch.from_numpy(dense_labels(indptr, indices, batch, tags)).to(device)
            total += float(tag_loss(tag_logits, target, prior, options)) * len(batch)
    return total / max(len(rows), 1)


def train_head(
    x: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    ratings: np.ndarray,
    rows: np.ndarray,
    tags: int,
    options: TrainOptions,
    device: str = "cpu",
    start: tuple[SavedHead, list[str]] | None = None,
    features=None,
    held_out: np.ndarray | None = None,
):
    """Train a head on the posts ``rows`` (indices into x).

    x : (N, D) float16/float32 embeddings, or with ``features`` (a module trained with the head,
    mapping x's rows to (B, features.dim) unit vectors) whatever it reads, e.g. (N, C, h, w)
    trunk maps; indptr/indices : CSR tag labels for the N posts;
    ratings : (N,) int8 rating index (-1 unknown, left out of the rating loss). ``start``: a
    saved head and the current tag names (K,) to continue from instead of a fresh start.
    ``held_out``: the fold's held-out posts; with ``options.early_stopping`` their tag loss is
    measured after every epoch, and the head is returned at its best epoch, stopping once
    ``options.patience`` epochs in a row have not bettered it.
    """
    import copy

    import torch
    import torch.nn.functional as F

    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    model = build_head(x.shape[1] if features is None else features.dim, tags, options, features).to(device)
    counts = np.bincount(indices[csr_entries(indptr, rows)[1]], minlength=tags)
    frequency = np.clip(counts / max(len(rows), 1), 1e-4, 1 - 1e-4).astype(np.float32)
    prior = torch.from_numpy(frequency).to(device)
    with torch.no_grad():  # start from each tag's base rate: rare tags need not unlearn 0.5 first
        model.tags.bias.copy_(torch.logit(prior))
    if start is not None:
        _continue_from(model, *start)
    epochs, batch_size, per_epoch = training_plan(len(rows), options)
    optimiser = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay, fused=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=options.learning_rate, total_steps=epochs * per_epoch)
    stopping = options.early_stopping and held_out is not None and len(held_out) > 0
    best, best_state, since_best = math.inf, None, 0
    model.train()
    for epoch in range(epochs):
        shuffled = rows[rng.permutation(len(rows))]
        for start in range(0, len(rows), batch_size):
            batch = shuffled[start : start + batch_size]
            features = torch.from_numpy(np.asarray(x[batch], dtype=np.float32)).to(device)
            target = torch.from_numpy(dense_labels(indptr, indices, batch, tags)).to(device)
            tag_logits, rating_logits = model(features)
            loss = tag_loss(tag_logits, target, prior, options)
            rated = torch.from_numpy(ratings[batch].astype(np.int64)).to(device)
            if (rated >= 0).any():
                loss = loss + 0.1 * F.cross_entropy(rating_logits[rated >= 0], rated[rated >= 0])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
        if stopping:
            model.eval()
            loss = held_out_loss(model, x, indptr, indices, held_out, tags, prior, options, device)
            model.train()
            if loss < best:
                best, best_state, best_epoch, since_best = loss, copy.deepcopy(model.state_dict()), epoch + 1, 0
            else:
                since_best += 1
                if since_best >= options.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
        logging.getLogger(__name__).info(
            "early stopping: held-out loss %.4f at epoch %d (stopped after %d of %d)", best, best_epoch, epoch + 1, epochs
        )
    return model.eval()


def predict(model, x: np.ndarray, rows: np.ndarray, batch_size: int = 4096, device: str = "cpu"):
    """Yield (row indices, (B, K) float16 tag probabilities, (B, 4) float16 rating probabilities)."""
    import torch

    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            tag_logits, rating_logits = model(torch.from_numpy(np.asarray(x[batch], dtype=np.float32)).to(device))
            yield (
                batch,
                torch.sigmoid(tag_logits).cpu().numpy().astype(np.float16),
                torch.softmax(rating_logits, dim=1).cpu().numpy().astype(np.float16),
            )
