"""The one typed configuration, read from ``WORKSPACE/curate.toml``.

Each section is a frozen pydantic model that keeps its own defaults; an unknown key or a
value of the wrong type is a :class:`~curation.errors.ConfigError` that names the file, the
key and the value. Relative source paths are resolved against the workspace folder.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

CONFIG_NAME = "curate.toml"

SOURCE_FORMATS = (
    "danbooru2021",  # BigQuery-era JSONL, posts000000000000.json ...
    "danbooru2017",  # 2017-2020 JSONL with string numbers and tag objects
    "danbooru_api",  # live API JSON: an array or JSONL
    "e621",  # db_export posts-DATE.csv.gz (+ tags-DATE.csv.gz beside it)
    "danbooru_sqlite",  # the Danbooru2019 SQLite layout (images, tags, imageTags)
    "tags",  # a tag list: Danbooru/e621 JSON or CSV exports
    "aliases",  # tag_aliases exports (Danbooru or e621 columns)
    "implications",  # tag_implications exports
)
SourceFormat = Literal[
    "danbooru2021", "danbooru2017", "danbooru_api", "e621", "danbooru_sqlite", "tags", "aliases", "implications"
]


def check_mod_ranges(ranges: list[list[int]]) -> list[list[int]]:
    """Inclusive [low, high] ranges of post_id % 1000."""
    for pair in ranges:
        if len(pair) != 2:
            raise ValueError(f"each range is [low, high], got {pair}")
        lo, hi = pair
        if not 0 <= lo <= hi <= 999:
            raise ValueError(f"range [{lo}, {hi}] must satisfy 0 <= low <= high <= 999")
    return ranges


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Source(_Section):
    """One dump: a file or a folder of files in one format."""

    path: Path
    format: SourceFormat
    images: Path | None = None  # the image folder for this board, if any
    full_dump: bool | None = None  # lists every live post? default: yes for exports, no for API files


class SelectConfig(_Section):
    """Post and tag filters; each maps to one SQL file in sql/filters/."""

    created_after: dt.date | dt.datetime | None = None
    created_before: dt.date | dt.datetime | None = None
    parents: Literal["keep", "drop_children", "only_parentless"] = "keep"
    drop_deleted: bool = True
    drop_banned: bool = True
    drop_flagged: bool = False
    drop_pending: bool = False
    ratings: list[Literal["g", "s", "q", "e"]] = Field(default_factory=list)  # empty: all
    file_exts: list[str] = Field(default_factory=list)  # empty: all
    min_width: int = Field(default=0, ge=0)
    min_height: int = Field(default=0, ge=0)
    require_tags: list[str] = Field(default_factory=list)  # a post must have all of these
    exclude_tags: list[str] = Field(default_factory=list)  # a post with any of these is dropped
    categories: list[str] = Field(default_factory=list)  # tag categories kept; empty: all
    min_tag_count: int = Field(default=0, ge=0)  # tags with fewer posts in the selection are dropped
    top_n_tags: int = Field(default=0, ge=0)  # 0: no cap
    drop_tags: list[str] = Field(default_factory=list)  # never selected as labels
    tag_list_files: list[Path] = Field(default_factory=list)  # blacklist / deprecation files, a tag a line
    min_tags_per_post: int = Field(default=0, ge=0)
    max_tags_per_post: int = Field(default=0, ge=0)  # 0: no cap
    id_mod_1000: list[list[int]] = Field(default_factory=list)  # inclusive [low, high] ranges of post_id % 1000
    sample_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    sample_seed: int = 0

    @field_validator("id_mod_1000")
    @classmethod
    def _ranges_within_1000(cls, ranges: list[list[int]]) -> list[list[int]]:
        return check_mod_ranges(ranges)


class ImagesConfig(_Section):
    """Locating and validating image files."""

    layout: Literal["board", "flat_md5", "flat_id", "pattern"] = "board"
    pattern: str = ""  # with layout = "pattern": e.g. "{md5[:2]}/{md5}.{ext}"
    workers: int = Field(default=2, ge=1)
    drop_animated: bool = True
    drop_transparent: bool = False
    alpha_background: str = "#ffffff"
    max_pixels: int = Field(default=89_478_485, gt=0)  # decompression-bomb guard (Pillow's default)
    jpeg_draft: bool = True  # JPEGs decoded at the reduction the hashes need (every byte still checked)


class EmbedConfig(_Section):
    """Image embeddings."""

    model: str = "timm:efficientnet_lite0"  # or open_clip:ARCH/PRETRAINED (a tag or a local checkpoint path)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA (fp16) when torch sees a GPU
    batch_size: int = Field(default=32, ge=1)
    workers: int = Field(default=2, ge=0)  # processes decoding images while the model runs; 0: in the main process
    image_size: int = Field(default=0, ge=0)  # 0: the model's own input size
    preprocess: Literal["pad", "crop"] = "pad"  # pad: longest side to S, then pad; crop: shortest side, centre crop
    background: str = "#ffffff"  # composited under transparency and used for padding
    flip: bool = False  # also embed each picture mirrored and average the two (twice the work; vectors of their own)
    layers: list[int] = []  # backbone stages pooled (mean, max) beside the final features, e.g. [5, 6]; timm CNNs
    scales: list[int] = []  # further input sizes averaged with the main one, e.g. [320] (each costs a pass)
    shard_size: int = Field(default=16384, ge=1)  # vectors per .npy shard (also how often progress is saved)

    @field_validator("layers", "scales")
    @classmethod
    def _distinct_sizes(cls, values: list[int], info) -> list[int]:
        low = 0 if info.field_name == "layers" else 32
        if any(v < low for v in values) or len(set(values)) != len(values):
            raise ValueError(f"distinct whole numbers of at least {low}, got {values}")
        return sorted(values)


class DedupeConfig(_Section):
    """Exact, perceptual and semantic duplicate search."""

    phash_radius: int = Field(default=7, ge=0, le=64)
    dhash_radius: int = Field(default=6, ge=0, le=64)  # the dHash that confirms a pHash match
    close_phash_radius: int = Field(default=2, ge=0, le=64)  # a pHash match this close ...
    close_dhash_radius: int = Field(default=10, ge=0, le=64)  # ... needs only this dHash
    mirror_radius: int = Field(default=4, ge=0, le=64)  # stricter: symmetric drawings mirror onto each other
    mirror_threshold: float = Field(default=0.9, ge=-1.0, le=1.0)  # and the mirrored thumbnails must agree this well
    background_radius: int = Field(default=6, ge=0, le=64)  # pHash, backgrounds whitened: a drawing on another colour
    background_dhash_radius: int = Field(default=5, ge=0, le=64)  # and the dHash that confirms it
    opaque_background_radius: int = Field(default=3, ge=0, le=64)  # the same between two opaque pictures
    min_information: float = Field(default=10.0, ge=0.0)  # flat images (grey spread below this) never match by hash alone
    near_flat_floor: float = Field(default=0.5, ge=0.0)  # ... unless above this, hashes within near_flat_radius
    near_flat_radius: int = Field(default=2, ge=0, le=64)  # and their thumbnails agree to near_flat_threshold
    near_flat_threshold: float = Field(default=0.95, ge=-1.0, le=1.0)
    composite: bool = True  # transparent posts vs the opaque posts of their size: is one it flattened on a colour?
    composite_tolerance: float = Field(default=16.0, ge=0.0, le=255.0)  # grey levels a pixel may miss the prediction by
    composite_max_disagree: float = Field(default=0.002, ge=0.0, le=1.0)  # ... on at most this share of the canvas
    composite_threshold: float = Field(default=0.95, ge=-1.0, le=1.0)  # correlation over the drawing
    composite_min_contrast: float = Field(default=8.0, ge=0.0, le=255.0)  # the drawing must show on the colour
    semantic: bool = True  # edges from embeddings (needs `curate embed`)
    semantic_threshold: float = Field(default=0.93, ge=-1.0, le=1.0)  # cosine, on boards too small to whiten
    whiten_dims: int = Field(default=512, ge=0)  # PCA-whiten embeddings to this many dims first; 0: never
    whitened_threshold: float = Field(default=0.625, ge=-1.0, le=1.0)  # cosine after whitening
    align: bool = True  # verify pairs just below the threshold by aligning their pixels (crops, padding)
    align_whitened_floor: float = Field(default=0.25, ge=-1.0, le=1.0)  # whitened cosine from which pairs are aligned
    align_neighbours: int = Field(
        default=8, ge=0
    )  # candidates a post (its most similar; its closest by hash); a transparent post's nearest at any similarity
    align_hash_radius: int = Field(default=10, ge=-1, le=64)  # pHashes this near are aligned too (-1: never)
    align_background_radius: int = Field(default=12, ge=-1, le=64)  # and whitened backgrounds, transparent vs opaque
    align_hash_threshold: float = Field(default=0.97, ge=-1.0, le=1.0)  # the correlation those need
    rotations: bool = True  # reposts turned 90, 180 or 270 degrees: turned thumbnails' pHashes, then pixels
    keypoints: bool = True  # alignment candidates left apart: ORB keypoints (crops, small turns, bars), then pixels
    keypoint_neighbours: int = Field(default=8, ge=0)  # and each post's nearest embeddings, at any similarity
    region_radius: int = Field(default=8, ge=-1, le=64)  # and a post's closest picture with a region hashing this near
    workers: int = Field(default=2, ge=0)  # processes for the pixel checks (alignment, turns, keypoints); 0: here
    overlay_area: float = Field(
        default=0.1, ge=0.0, le=1.0
    )  # pictures of one canvas may differ in one box this large (a watermark)
    align_raw_floor: float = Field(default=0.87, ge=-1.0, le=1.0)  # the same on boards too small to whiten
    align_threshold: float = Field(default=0.95, ge=-1.0, le=1.0)  # correlation of the aligned grey pixels
    align_masked_threshold: float = Field(default=0.99, ge=-1.0, le=1.0)  # the same when one is transparent
    variants_are_duplicates: bool = True  # parent/child near-copies share a group (safer for splits)
    derivatives_are_duplicates: bool = True  # a region cut out of a picture shares its group (safer for splits)
    min_precision: float = Field(default=0.0, ge=0.0, le=1.0)  # edges estimated less likely right join no group
    representative: Literal["largest", "score", "parent", "most_tags"] = "largest"
    merge_tags: bool = False  # table dup_group_tags: a group's tags credited to its representative
    contact_sheets: int = Field(default=20, ge=0)  # groups drawn to out/duplicates/ (largest first)


class SplitConfig(_Section):
    """Train/val/test assignment."""

    scheme: Literal["stratified", "time", "id_mod_1000"] = "stratified"
    train: float = Field(default=0.8, ge=0.0, le=1.0)
    val: float = Field(default=0.1, ge=0.0, le=1.0)
    test: float = Field(default=0.1, ge=0.0, le=1.0)
    seed: int = 0
    group_by_artist: bool = False
    holdout_after: dt.date | dt.datetime | None = None  # scheme = "time": posts after it go to val/test
    min_tag_posts: int = Field(default=10, ge=0)  # stratify tags with at least this many posts
    id_mod_train: list[list[int]] = Field(default_factory=lambda: [[0, 899]])  # scheme = "id_mod_1000" (WD taggers)
    id_mod_val: list[list[int]] = Field(default_factory=lambda: [[950, 999]])
    id_mod_test: list[list[int]] = Field(default_factory=lambda: [[900, 949]])
    manifest_posts: Literal["representatives", "all"] = "representatives"  # duplicates in the manifests

    @field_validator("id_mod_train", "id_mod_val", "id_mod_test")
    @classmethod
    def _mod_ranges(cls, ranges: list[list[int]]) -> list[list[int]]:
        return check_mod_ranges(ranges)

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitConfig:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must be 1, got {total:g}")
        if self.scheme == "time" and self.holdout_after is None:
            raise ValueError("scheme = 'time' needs holdout_after (a date)")
        return self


class TaggerConfig(_Section):
    """K-fold heads on embeddings, or an external tagger."""

    folds: int = Field(default=5, ge=2)
    head: Literal["linear", "mlp"] = "linear"
    epochs: int = Field(default=30, ge=1)
    max_steps: int = Field(default=800, ge=1)  # optimiser steps a head takes at most: large boards stop sooner
    batch_size: int = Field(default=1024, ge=1)
    learning_rate: float = Field(default=3e-3, gt=0.0)
    prior_weighted_loss: bool = False  # BCE weighted by max(target, 1 - tag prior)
    loss: Literal["bce", "asymmetric"] = "bce"  # asymmetric: negatives focused (gamma 4) and shifted (0.05)
    early_stopping: bool = False  # keep each fold's head at its best epoch on the fold's held-out loss
    patience: int = Field(default=3, ge=1)  # ... and stop after this many epochs without a better one
    finetune: bool = False  # each fold also tunes the embedder's last stages (timm EfficientNet-style models)
    finetune_blocks: int = Field(default=2, ge=1)  # backbone stages tuned, counted from the last
    finetune_epochs: int = Field(default=8, ge=1)
    finetune_batch_size: int = Field(default=64, ge=1)
    finetune_learning_rate: float = Field(default=2e-3, gt=0.0)
    finetune_max_cpu_posts: int = Field(default=20_000, ge=0)  # larger boards fine-tune on a GPU only
    neighbours: int = Field(default=50, ge=1)  # nearest posts of the other folds whose labels are evidence
    neighbour_weight: float = Field(default=0.3, ge=0.0, le=1.0)  # their share of the probability; 0: off
    group_weight: float = Field(default=0.8, ge=0.0, le=1.0)  # a duplicate group's other members' share; 0: off
    context_weight: float = Field(default=0.5, ge=0.0, le=4.0)  # the post's other labels, as a log-odds ratio; 0: off
    warm_start: bool = True  # a fold's head continues from the last run's when that is leak-free
    warm_start_epochs: int = Field(default=6, ge=1)  # epochs of a warm-started head
    warm_start_max_new_tags: float = Field(default=0.05, ge=0.0, le=1.0)  # a larger share of new tags: from scratch
    retrain_after_change: float = Field(default=0.05, ge=0.0, le=1.0)  # more posts changed since training: train
    threshold: float = Field(default=0.35, gt=0.0, lt=1.0)  # metrics at this probability
    device: Literal["auto", "cpu", "cuda"] = "auto"
    chunk_tags: int = Field(default=1024, ge=1)  # predictions stored tag-major, this many tags a file
    rare_from_rank: int = Field(default=2000, ge=1)  # metrics slice: tags at this frequency rank and below are "rare"
    min_posts: int = Field(default=10, ge=1)  # comparisons: only tags in at least this many held-out posts


class SuggestConfig(_Section):
    """cleanlab suggestions for moderators."""

    tagger: str = "kfold-heads"  # whose out-of-fold probabilities (a name in `curate evaluate tagger`)
    min_precision_add: float = Field(default=0.01, ge=0.0, le=1.0)  # shown when its precision estimate reaches this
    min_precision_remove: float = Field(default=0.02, ge=0.0, le=1.0)
    max_per_tag: int = Field(default=75, ge=1)  # a tag's suggestions per round of the queue's order
    max_per_post: int = Field(default=3, ge=1)  # a post's suggestions per round
    max_suggestions: int = Field(default=0, ge=0)  # the queue's length; 0: every suggestion above the floors
    min_tag_posts: int = Field(default=10, ge=1)  # tags with fewer labelled posts get no suggestions (too few to learn)
    categories: list[str] = Field(default_factory=lambda: ["general"])  # tag categories suggested for; empty: all
    cleanlab_filter: Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given"] = (
        "predicted_neq_given"  # cleanlab.filter.find_label_issues(filter_by=)
    )
    chunk_tags: int = Field(default=256, ge=1)  # tags per parallel task
    workers: int = Field(default=2, ge=1)  # processes (with [runner] kind = "dask": the cluster's workers)


class RunnerConfig(_Section):
    """Where flows run their work, and with how much memory."""

    kind: Literal["local", "dask"] = "local"
    address: str = ""  # a Dask scheduler; empty with kind = "dask": a LocalCluster
    workers: int = Field(default=2, ge=1)
    duckdb_memory_limit: str = Field(default="1500MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    lock_wait: float = Field(default=0.0, ge=0)  # seconds a command waits for another's workspace lock; 0: refuse at once
    notify_url: str = ""  # a webhook POSTed (JSON) when a rebuild fails; empty: none


class Config(_Section):
    """The whole of curate.toml."""

    dataset: str = "dataset"
    sources: list[Source] = Field(default_factory=list)
    select: SelectConfig = SelectConfig()
    images: ImagesConfig = ImagesConfig()
    embed: EmbedConfig = EmbedConfig()
    dedupe: DedupeConfig = DedupeConfig()
    split: SplitConfig = SplitConfig()
    tagger: TaggerConfig = TaggerConfig()
    suggest: SuggestConfig = SuggestConfig()
    runner: RunnerConfig = RunnerConfig()


def _where(loc: tuple) -> str:
    """('select', 'min_width') -> '[select] min_width'; ('sources', 0, 'format') -> '[[sources]] #1 format'."""
    parts = [str(p) for p in loc]
    if not parts:
        return "top level"
    if parts[0] == "sources" and len(parts) >= 2 and parts[1].isdigit():
        rest = ".".join(parts[2:]) or "(entry)"
        return f"[[sources]] #{int(parts[1]) + 1} {rest}"
    if len(parts) == 1:
        return parts[0]
    return f"[{parts[0]}] {'.'.join(parts[1:])}"


RETIRED = {
    ("suggest", "min_confidence"): "suggestions are shown by their calibrated precision now; "
    "use min_precision_add and min_precision_remove",
}


def _describe(error: dict) -> str:
    where = _where(error["loc"])
    if error["type"] == "extra_forbidden":
        retired = RETIRED.get(tuple(str(p) for p in error["loc"]))
        return f"{where} is no longer a setting: {retired}" if retired else f"unknown key {where}"
    if error["type"] == "missing":
        return f"{where} is required"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if isinstance(error["input"], dict):  # a whole section failed a cross-field check
        section = where if where.startswith("[") else f"[{where}]"
        return f"{section}: {message}"
    return f"{where} = {error['input']!r}: {message}"


def parse_config(data: dict, origin: str = CONFIG_NAME, base: Path | None = None) -> Config:
    """Validate a parsed TOML mapping; ``origin`` names the file in error messages.

    Relative paths in ``[[sources]]`` and ``tag_list_files`` are resolved against ``base``.
    """
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{origin}: {problems}") from None
    if base is None:
        return config
    sources = [
        s.model_copy(update={"path": _join(base, s.path), "images": _join(base, s.images) if s.images else None})
        for s in config.sources
    ]
    select = config.select.model_copy(update={"tag_list_files": [_join(base, p) for p in config.select.tag_list_files]})
    return config.model_copy(update={"sources": sources, "select": select})


def _join(base: Path, path: Path) -> Path:
    """``path`` relative to the workspace, normalised (no ``..``): the same file, the same text."""
    return Path(os.path.normpath(base / path))


def _paths_to_path(data: dict) -> dict:
    """TOML has no path type: turn the path-valued strings into Paths before strict validation."""
    data = dict(data)
    sources = data.get("sources")
    if isinstance(sources, list):
        fixed = []
        for entry in sources:
            if isinstance(entry, dict):
                entry = dict(entry)
                for key in ("path", "images"):
                    if isinstance(entry.get(key), str):
                        entry[key] = Path(entry[key])
            fixed.append(entry)
        data["sources"] = fixed
    select = data.get("select")
    if isinstance(select, dict) and isinstance(select.get("tag_list_files"), list):
        select = dict(select)
        select["tag_list_files"] = [Path(p) if isinstance(p, str) else p for p in select["tag_list_files"]]
        data["select"] = select
    return data


def load_config(workspace: Path | str) -> Config:
    """Read and validate ``WORKSPACE/curate.toml``."""
    path = Path(workspace) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (create one with `curate init {workspace} --source PATH`)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None
    return parse_config(_paths_to_path(data), origin=str(path), base=path.parent.resolve())


def toml_value(value) -> str:
    """One TOML value (strings, numbers, booleans, dates, paths, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value)
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in text) + '"'


def config_toml(config: Config) -> str:
    """``config`` as curate.toml text, every key written (None values left out)."""
    data = config.model_dump(exclude_none=True)
    lines = [f"dataset = {toml_value(data.pop('dataset'))}", ""]
    for source in data.pop("sources"):
        lines += ["[[sources]]", *(f"{k} = {toml_value(v)}" for k, v in source.items()), ""]
    for section, values in data.items():
        lines += [f"[{section}]", *(f"{k} = {toml_value(v)}" for k, v in values.items()), ""]
    return "\n".join(lines)


def write_config(workspace: Path | str, config: Config) -> Path:
    """Write ``config`` to WORKSPACE/curate.toml (read back, it gives the same Config)."""
    path = Path(workspace) / CONFIG_NAME
    path.write_text(config_toml(config), encoding="utf-8")
    if load_config(workspace) != config:
        raise ConfigError(f"{path}: the written config does not read back as the same values")
    return path


def with_settings(config: Config, **sections: dict) -> Config:
    """``config`` with some keys of some sections changed, validated as curate.toml would be:
    ``with_settings(cfg, select={"min_tag_count": 5})``."""
    updated = {}
    for name, values in sections.items():
        section = getattr(config, name)
        try:
            updated[name] = type(section).model_validate({**section.model_dump(), **values})
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe({**e, "loc": (name, *e["loc"])}) for e in exc.errors())) from None
    return config.model_copy(update=updated)
