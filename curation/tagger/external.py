"""``curate score``: predictions from taggers trained elsewhere.

- A WD14-style ONNX tagger, run with onnxruntime over the posts' images: square-padded on
  white, ``size`` px (448 by those models' convention, or the size the model declares), BGR,
  NHWC, pixel values 0-255 float32 -- each of these configurable for other models. CUDA when
  onnxruntime offers it, else CPU. Its ``selected_tags.csv`` names the output columns.
- A file of probabilities: a parquet with ``post_id`` and one column per tag (or a list
  column ``probabilities`` in the order of the tags file), or an ``.npy`` (N, K) array with
  the post ids in a second file.

Tag names map onto the catalog's through its active aliases. Either way the result is a
:class:`~curation.tagger.store.PredictionStore` registered in the ``taggers`` table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from ..catalog import Catalog
from ..context import Where, stage_context
from ..embed.preprocess import pad_square, to_rgb
from ..errors import CurationError, ModelUnavailable, StageNotRun
from ..progress import progress
from ..tags import canonicaliser
from .store import PredictionStore, building, register, tagger_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnnxInput:
    """How an ONNX tagger wants its pixels; picklable for worker processes."""

    size: int = 448
    bgr: bool = True
    layout: str = "NHWC"  # or NCHW
    scale: float = 1.0  # 1.0: values 0-255; 1/255: 0-1
    background: tuple[int, int, int] = (255, 255, 255)

    def __call__(self, path: str) -> np.ndarray:
        with Image.open(path) as img:
            img.draft("RGB", (self.size, self.size))
            square = pad_square(to_rgb(img, self.background), self.size, self.background)
        x = np.asarray(square, dtype=np.float32) * self.scale
        if self.bgr:
            x = x[:, :, ::-1]
        return np.ascontiguousarray(x.transpose(2, 0, 1) if self.layout == "NCHW" else x)


def read_tag_names(path: Path) -> list[str]:
    """Tag names from a selected_tags.csv (column ``name``) or a text file, one a line."""
    path = Path(path)
    if not path.is_file():
        raise CurationError(f"{path}: no such tags file")
    if path.suffix == ".csv":
        frame = pl.read_csv(path)
        if "name" not in frame.columns:
            raise CurationError(f"{path}: a tags CSV needs a 'name' column (the WD selected_tags.csv layout)")
        return frame["name"].cast(pl.Utf8).to_list()
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def canonical_names(cat: Catalog, names: list[str]) -> list[str]:
    """Names as the catalog stores them, aliases followed (WD lists use underscores, as boards do)."""
    canonical = canonicaliser(cat)
    return [canonical(n) for n in names]


def _register(
    cat: Catalog,
    workspace: Path,
    name: str,
    post_ids: np.ndarray,
    tags: list[str],
    probabilities_by_batch,
    chunk_tags: int,
    meta: dict,
) -> PredictionStore:
    """Write batches of (rows, (B, K) probabilities) into a new store; duplicate names keep their first column."""
    canonical = canonical_names(cat, tags)
    first: dict[str, int] = {}
    for i, t in enumerate(canonical):
        first.setdefault(t, i)
    columns = np.array(sorted(first.values()))
    folder = tagger_folder(workspace, name)
    meta = {"name": name, "kind": "external", **meta}
    with building(folder, post_ids, [canonical[i] for i in columns], chunk_tags, meta, ratings=False) as store:
        for rows, probabilities in probabilities_by_batch:
            store.write(rows, probabilities[:, columns].astype(np.float16))
    register(cat, workspace, name, "external", folder, len(post_ids), len(columns))
    return PredictionStore(folder)


def score_onnx(
    workspace: Where,
    model_path: Path,
    tags_path: Path,
    name: str | None = None,
    preprocess: OnnxInput | None = None,
    batch_size: int = 16,
    workers: int = 2,
) -> PredictionStore:
    import onnxruntime as ort

    from ..embed.stage import ImageFiles, collate_images, worker_context

    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelUnavailable(f"{model_path}: no such ONNX model")
    tags = read_tag_names(tags_path)
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    try:
        session = ort.InferenceSession(str(model_path), providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelUnavailable(f"{model_path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from None
    declared = session.get_inputs()[0]
    preprocess = preprocess or OnnxInput()
    side = declared.shape[1 if preprocess.layout == "NHWC" else 2]
    if isinstance(side, int) and side != preprocess.size:
        log.info("%s declares %d-px input; using it instead of %d", model_path.name, side, preprocess.size)
        preprocess = OnnxInput(side, preprocess.bgr, preprocess.layout, preprocess.scale, preprocess.background)
    outputs = session.get_outputs()[0].shape[-1]
    if isinstance(outputs, int) and outputs != len(tags):
        raise CurationError(f"{model_path.name} has {outputs} outputs but {tags_path} lists {len(tags)} tags")
    name = name or f"onnx:{model_path.stem}"
    with ctx.staged("taggers", "tagger_folds") as cat:
        posts = cat.run("marts/tagger_posts").fetchall()
        paths = cat.rows("SELECT post_id, path FROM images WHERE status = 'ok'")
        path_of = dict(paths)
        post_ids = np.array([r[0] for r in posts], dtype=np.int64)
        if not len(post_ids):
            raise StageNotRun(f"{workspace}: no selected post with a usable image; run `curate images` first")

        def batches():
            from torch.utils.data import DataLoader

            loader = DataLoader(
                ImageFiles([path_of[int(p)] for p in post_ids], preprocess),
                batch_size=batch_size,
                num_workers=workers,
                collate_fn=collate_images,
                prefetch_factor=4 if workers else None,
                multiprocessing_context=worker_context(workers),
            )
            with progress(f"score {name}", len(post_ids)) as advance:
                for indices, batch, bad in loader:
                    for i, err in bad:
                        log.warning("%s: %s", path_of[int(post_ids[i])], err)
                    if batch is not None:
                        out = session.run(None, {declared.name: batch.numpy()})[0]
                        yield np.array(indices), np.asarray(out, dtype=np.float32)
                    advance(len(indices) + len(bad))

        return _register(
            cat,
            workspace,
            name,
            post_ids,
            tags,
            batches(),
            config.tagger.chunk_tags,
            {"model": str(model_path), "tags_file": str(tags_path), "input": preprocess.__dict__},
        )


def import_predictions(
    workspace: Where, path: Path, tags_path: Path | None = None, post_ids_path: Path | None = None, name: str | None = None
) -> PredictionStore:
    """Register a file of probabilities (see the module docstring for the layouts)."""
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    path = Path(path)
    if not path.is_file():
        raise CurationError(f"{path}: no such predictions file")
    if path.suffix == ".npy":
        if post_ids_path is None or tags_path is None:
            raise CurationError(f"{path}: an .npy of probabilities needs --post-ids (npy or text) and --tags")
        matrix = np.load(path, mmap_mode="r")
        ids_file = Path(post_ids_path)
        post_ids = np.load(ids_file) if ids_file.suffix == ".npy" else np.loadtxt(ids_file, dtype=np.int64, ndmin=1)
        tags = read_tag_names(tags_path)
    elif path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        if "post_id" not in frame.columns:
            raise CurationError(f"{path}: needs a post_id column")
        post_ids = frame["post_id"].to_numpy()
        if "probabilities" in frame.columns:
            if tags_path is None:
                raise CurationError(f"{path}: a 'probabilities' list column needs --tags for its order")
            tags = read_tag_names(tags_path)
            matrix = np.stack(frame["probabilities"].to_numpy()) if frame.height else np.zeros((0, len(tags)))
        else:
            tags = [c for c in frame.columns if c != "post_id"]
            matrix = frame.select(tags).to_numpy()
    else:
        raise CurationError(f"{path}: predictions must be .parquet or .npy")
    if matrix.ndim != 2 or matrix.shape != (len(post_ids), len(tags)):
        raise CurationError(f"{path}: probabilities are {matrix.shape}, expected ({len(post_ids)} posts, {len(tags)} tags)")
    name = name or f"imported:{path.stem}"
    with ctx.staged("taggers", "tagger_folds") as cat:

        def batches():
            for start in range(0, len(post_ids), 65536):
                rows = np.arange(start, min(start + 65536, len(post_ids)))
                yield rows, np.asarray(matrix[start : start + 65536], dtype=np.float32)

        return _register(
            cat,
            workspace,
            name,
            np.asarray(post_ids, dtype=np.int64),
            tags,
            batches(),
            config.tagger.chunk_tags,
            {"file": str(path)},
        )
