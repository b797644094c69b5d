"""One workspace per dataset: ``curate.toml``, ``catalog.duckdb``, ``cache/``, ``out/``."""

from __future__ import annotations

import os
from pathlib import Path

from .config import CONFIG_NAME, load_config
from .errors import WorkspaceError
from .ingest.detect import DetectedSource, detect

STARTER = """# booru-curate workspace config. Every key below shows its default; uncomment to change.
# Docs: docs/configuration.md and one page per stage in docs/. Unknown keys and wrong types are errors.
dataset = "{dataset}"

{sources}
[select]
# The starter selection is permissive: it drops only deleted and banned posts, so the first
# run shows the whole board. Each recipe is a few uncommented lines away.
drop_deleted = true
drop_banned = true
# drop_flagged = false
# drop_pending = false
# created_after = 2010-01-01          # TOML dates need no quotes
# created_before = 2026-01-01
# parents = "keep"                    # keep | drop_children | only_parentless
# ratings = ["g", "s"]                # empty: all
# file_exts = ["jpg", "png", "webp"]  # empty: all
# min_width = 0
# min_height = 0
# require_tags = ["1girl", "solo"]    # a post needs all of these
# exclude_tags = ["comic"]            # a post with any of these is dropped
# categories = ["general"]            # tag categories kept as labels; empty: all
# min_tag_count = 0                   # labels need at least this many posts in the selection
# top_n_tags = 0                      # 0: no cap
# drop_tags = []                      # never used as labels
# tag_list_files = []                 # blacklist / deprecation files, one tag a line
# min_tags_per_post = 0
# max_tags_per_post = 0               # 0: no cap
# id_mod_1000 = [[0, 899]]            # inclusive ranges of post_id % 1000
# sample_fraction = 1.0
# sample_seed = 0

[images]
# layout = "board"                    # board: original/{{id % 1000:04d}}/{{id}}.{{ext}} | flat_md5 | flat_id | pattern
# pattern = ""                        # with layout = "pattern", e.g. "{{md5[:2]}}/{{md5}}.{{ext}}"
# workers = 2
# drop_animated = true
# drop_transparent = false
# alpha_background = "#ffffff"
# max_pixels = 89478485               # decompression-bomb guard
# jpeg_draft = true                   # JPEGs decoded at the reduction the hashes need (every byte still read)

[embed]
# model = "timm:efficientnet_lite0"   # offline default; or "open_clip:ViT-B-32/laion2b_s34b_b79k"
# device = "auto"                     # auto | cpu | cuda
# batch_size = 32
# workers = 2                         # decoding processes beside the model; 0: decode in the main process
# image_size = 0                      # 0: the model's own (224)
# preprocess = "pad"                  # pad: longest side to S, then pad | crop: shortest side, centre crop
# background = "#ffffff"              # under transparency and in the padding
# shard_size = 16384

[dedupe]
# phash_radius = 7
# dhash_radius = 6                    # the dHash that confirms a pHash match
# close_phash_radius = 2              # a pHash match this close ...
# close_dhash_radius = 10             # ... needs only this dHash (a trimmed border shifts the dHash)
# mirror_radius = 4                   # pHash radius against mirror images (symmetric drawings match loosely)
# mirror_threshold = 0.9              # and the mirrored thumbnails must agree this well
# background_radius = 6               # pHash with backgrounds whitened: a drawing on another colour
# background_dhash_radius = 5         # the dHash that confirms it
# opaque_background_radius = 3        # the same between two opaque pictures (different drawings come closer)
# min_information = 10.0              # flat-colour images below this never match by hash alone
# near_flat_floor = 2.0               # ... unless above this, with hashes within near_flat_radius
# near_flat_radius = 2                # and thumbnails that agree to near_flat_threshold
# near_flat_threshold = 0.95
# composite = true                   # a transparent post vs the opaque posts of its size: is one it on a colour?
# composite_tolerance = 16.0          # grey levels a thumbnail pixel may differ from that prediction ...
# composite_max_disagree = 0.002      # ... on at most this share of the canvas
# composite_threshold = 0.95          # correlation over the drawing
# composite_min_contrast = 8.0        # grey levels the drawing must stand out from the copy's colour
# semantic = true
# semantic_threshold = 0.93          # cosine of embeddings on boards too small to whiten (docs/dedupe.md: calibration)
# whiten_dims = 512                   # PCA-whiten embeddings first, when there are at least 2x this many; 0: never
# whitened_threshold = 0.625          # cosine after whitening
# align = true                        # pixel-align pairs the embeddings propose (crops, padding, transparency)
# align_whitened_floor = 0.25         # whitened cosine from which a pair is aligned
# align_raw_floor = 0.87              # the same on boards too small to whiten
# align_hash_radius = 10              # pHashes this near are aligned too (-1: never)
# align_background_radius = 12        # and whitened backgrounds, transparent vs opaque
# align_hash_threshold = 0.97         # the correlation those need (hashes also bring lookalikes)
# overlay_area = 0.1                  # one canvas may differ in one box this large (a watermark)
# align_neighbours = 8                # candidates a post; a transparent post's nearest at any similarity too
# align_threshold = 0.95              # correlation of the aligned grey thumbnails
# align_masked_threshold = 0.99       # the same on the opaque pixels when either post is transparent
# variants_are_duplicates = true     # parent/child near-copies share a group
# representative = "largest"          # largest | score | parent | most_tags
# merge_tags = false
# contact_sheets = 20                 # PNGs of the largest groups in out/duplicates/

[split]
# scheme = "stratified"               # stratified | time | id_mod_1000
# train = 0.8
# val = 0.1
# test = 0.1
# seed = 0
# group_by_artist = false             # an artist's posts share a split
# min_tag_posts = 10                  # stratify the label tags with at least this many posts
# holdout_after = 2024-01-01          # scheme = "time": units whose oldest post is newer go to val/test
# id_mod_train = [[0, 899]]           # scheme = "id_mod_1000": ranges of post_id % 1000 (the WD taggers')
# id_mod_val = [[950, 999]]
# id_mod_test = [[900, 949]]
# manifest_posts = "representatives"  # representatives | all: duplicates in out/splits/*.parquet

[tagger]
# folds = 5                           # K-fold heads: every post predicted by a head that never saw it
# head = "linear"                     # linear | mlp
# epochs = 10
# batch_size = 1024
# learning_rate = 0.003
# prior_weighted_loss = false         # BCE weighted by max(target, 1 - tag prior)
# threshold = 0.35                    # metrics at this probability
# device = "auto"                     # auto | cpu | cuda
# chunk_tags = 1024                   # predictions stored tag-major, this many tags a file
# rare_from_rank = 2000               # metrics: tags at this frequency rank and below count as rare
# min_posts = 10                      # comparisons: only tags in at least this many held-out posts

[suggest]
# tagger = "kfold-heads"              # whose out-of-fold probabilities (see `curate evaluate tagger`)
# max_per_tag = 100
# max_per_post = 10
# min_confidence = 0.5                # the model's belief in the suggested change
# min_tag_posts = 10                  # tags with fewer labelled posts get no suggestions
# chunk_tags = 256                    # tags per parallel task
# workers = 2                         # processes; with [runner] kind = "dask", tasks go to the Dask cluster

[runner]
# kind = "local"                      # local | dask
# address = ""                        # a Dask scheduler; empty with kind = "dask": a LocalCluster
# workers = 2
# duckdb_memory_limit = "1500MB"      # DuckDB spills to disk beyond it (WORKSPACE/catalog.duckdb.tmp)
# lock_wait = 0                       # seconds to wait for another command's workspace lock; 0: refuse at once
"""


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _relative(path: Path, workspace: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), workspace.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def render_starter(workspace: Path, sources: list[DetectedSource], dataset: str) -> str:
    """The commented starter curate.toml for these sources."""
    blocks = []
    for source in sources:
        lines = [
            "[[sources]]",
            f"path = {_toml_string(_relative(source.path, workspace))}",
            f"format = {_toml_string(source.format)}",
        ]
        if source.images:
            lines.append(f"images = {_toml_string(_relative(source.images, workspace))}")
        blocks.append("\n".join(lines) + "\n")
    return STARTER.format(dataset=dataset, sources="\n".join(blocks))


def init_workspace(
    workspace: Path | str, source_paths: list[Path | str], overwrite: bool = False
) -> tuple[Path, list[DetectedSource]]:
    """Create a workspace with a starter config for the given dumps; returns (config path, sources)."""
    workspace = Path(workspace)
    config = workspace / CONFIG_NAME
    if config.exists() and not overwrite:
        raise WorkspaceError(f"{config} already exists; pass --overwrite to replace it")
    sources = [s for p in source_paths for s in detect(p)]
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "cache").mkdir(exist_ok=True)
    (workspace / "out").mkdir(exist_ok=True)
    config.write_text(render_starter(workspace, sources, workspace.resolve().name), encoding="utf-8")
    load_config(workspace)  # what we wrote must be valid
    return config, sources
