"""What each curate.toml key means, for the starter config and docs/configuration.md.

The defaults themselves live only in the config models (:mod:`curation.config`); these are the
words beside them: a note and, for keys whose default is "off" or empty, an example value. A
test fails when a model field has no note here or a note names no field.
"""

from __future__ import annotations

NOTES: dict[tuple[str, str], tuple[str, str | None]] = {  # (section, key) -> (note, example)
    ("select", "drop_deleted"): ("", None),
    ("select", "drop_banned"): ("", None),
    ("select", "drop_flagged"): ("", None),
    ("select", "drop_pending"): ("", None),
    ("select", "created_after"): ("TOML dates need no quotes", "2010-01-01"),
    ("select", "created_before"): ("", "2026-01-01"),
    ("select", "parents"): ("keep | drop_children | only_parentless", None),
    ("select", "ratings"): ("empty: all", '["g", "s"]'),
    ("select", "file_exts"): ("empty: all", '["jpg", "png", "webp"]'),
    ("select", "min_width"): ("", None),
    ("select", "min_height"): ("", None),
    ("select", "require_tags"): ("a post needs all of these", '["1girl", "solo"]'),
    ("select", "exclude_tags"): ("a post with any of these is dropped", '["comic"]'),
    ("select", "categories"): ("tag categories kept as labels; empty: all", '["general"]'),
    ("select", "min_tag_count"): ("labels need at least this many posts in the selection", None),
    ("select", "top_n_tags"): ("0: no cap", None),
    ("select", "drop_tags"): ("never used as labels", None),
    ("select", "tag_list_files"): ("blacklist / deprecation files, one tag a line", None),
    ("select", "min_tags_per_post"): ("", None),
    ("select", "max_tags_per_post"): ("0: no cap", None),
    ("select", "id_mod_1000"): ("inclusive ranges of post_id % 1000", "[[0, 899]]"),
    ("select", "sample_fraction"): ("", None),
    ("select", "sample_seed"): ("", None),
    ("images", "layout"): ("board: original/{id % 1000:04d}/{id}.{ext} | flat_md5 | flat_id | pattern", None),
    ("images", "pattern"): ('with layout = "pattern", e.g. "{md5[:2]}/{md5}.{ext}"', None),
    ("images", "workers"): ("", None),
    ("images", "drop_animated"): ("", None),
    ("images", "drop_transparent"): ("", None),
    ("images", "alpha_background"): ("", None),
    ("images", "max_pixels"): ("decompression-bomb guard", None),
    ("images", "jpeg_draft"): ("JPEGs decoded at the reduction the hashes need (every byte still read)", None),
    ("embed", "model"): ('offline default; or "open_clip:ViT-B-32/laion2b_s34b_b79k"', None),
    ("embed", "device"): ("auto | cpu | cuda", None),
    ("embed", "batch_size"): ("", None),
    ("embed", "workers"): ("decoding processes beside the model; 0: decode in the main process", None),
    ("embed", "image_size"): ("0: the model's own (224)", None),
    ("embed", "preprocess"): ("pad: longest side to S, then pad | crop: shortest side, centre crop", None),
    ("embed", "background"): ("under transparency and in the padding", None),
    ("embed", "flip"): (
        "also embed each picture mirrored and average the two: features that ignore left and right, for twice the "
        "embedding time; stored under an embedder id of their own (docs/embed.md)",
        None,
    ),
    ("embed", "layers"): (
        "stages of the backbone (0-6 for efficientnet_lite0) pooled by mean and max beside the final features, "
        "e.g. [5, 6]: wider vectors, no extra pass; timm CNNs only (docs/embed.md)",
        None,
    ),
    ("embed", "scales"): (
        "further input sizes in pixels whose features are averaged with the main size's, e.g. [320]: one more "
        "pass each, ~2x the model time at 320 (docs/embed.md)",
        None,
    ),
    ("embed", "shard_size"): ("", None),
    ("dedupe", "phash_radius"): ("", None),
    ("dedupe", "dhash_radius"): ("the dHash that confirms a pHash match", None),
    ("dedupe", "close_phash_radius"): ("a pHash match this close ...", None),
    ("dedupe", "close_dhash_radius"): ("... needs only this dHash (a trimmed border shifts the dHash)", None),
    ("dedupe", "mirror_radius"): ("pHash radius against mirror images (symmetric drawings match loosely)", None),
    ("dedupe", "mirror_threshold"): ("and the mirrored thumbnails must agree this well", None),
    ("dedupe", "background_radius"): ("pHash with backgrounds whitened: a drawing on another colour", None),
    ("dedupe", "background_dhash_radius"): ("the dHash that confirms it", None),
    ("dedupe", "opaque_background_radius"): ("the same between two opaque pictures (different drawings come closer)", None),
    ("dedupe", "min_information"): ("flat-colour images below this never match by hash alone", None),
    ("dedupe", "near_flat_floor"): ("... unless above this, with hashes within near_flat_radius", None),
    ("dedupe", "near_flat_radius"): ("and thumbnails that agree to near_flat_threshold", None),
    ("dedupe", "near_flat_threshold"): ("", None),
    ("dedupe", "composite"): ("a transparent post vs the opaque posts of its size: is one it on a colour?", None),
    ("dedupe", "composite_tolerance"): ("grey levels a thumbnail pixel may differ from that prediction ...", None),
    ("dedupe", "composite_max_disagree"): ("... on at most this share of the canvas", None),
    ("dedupe", "composite_threshold"): ("correlation over the drawing", None),
    ("dedupe", "composite_min_contrast"): ("grey levels the drawing must stand out from the copy's colour", None),
    ("dedupe", "semantic"): ("", None),
    ("dedupe", "semantic_threshold"): ("cosine of embeddings on boards too small to whiten (docs/dedupe.md: calibration)", None),
    ("dedupe", "whiten_dims"): ("PCA-whiten embeddings first, when there are at least 2x this many; 0: never", None),
    ("dedupe", "whitened_threshold"): ("cosine after whitening", None),
    ("dedupe", "align"): ("pixel-align pairs the embeddings propose (crops, padding, transparency)", None),
    ("dedupe", "rotations"): (
        "reposts turned by quarter turns: a turned thumbnail's pHash within align_hash_radius, then its pixels "
        "to align_hash_threshold",
        None,
    ),
    ("dedupe", "keypoints"): (
        "alignment candidates still apart: ORB keypoints matched under one similarity transform (crops of any "
        "size and scale, small turns, bars painted over), then the warped pixels",
        None,
    ),
    ("dedupe", "keypoint_neighbours"): (
        "each post's nearest embeddings (at any similarity) matched by keypoints too: a heavy crop embeds far from "
        "its original yet stays among its nearest",
        None,
    ),
    ("dedupe", "region_radius"): (
        "keypoint candidates too: each post with the one picture that has a region (60% of each side on a 3 x 3 "
        "grid, or a corner keeping 75% of each side) whose pHash is within this of the post's (a heavy or corner "
        "crop whose embedding is far from its original's); -1: none",
        None,
    ),
    ("dedupe", "workers"): (
        "processes for the pixel checks: alignment, turns, keypoints (a CPU core each); 0: in the main process",
        None,
    ),
    ("dedupe", "align_whitened_floor"): ("whitened cosine from which a pair is aligned", None),
    ("dedupe", "align_raw_floor"): ("the same on boards too small to whiten", None),
    ("dedupe", "align_hash_radius"): ("pHashes this near are aligned too (-1: never)", None),
    ("dedupe", "align_background_radius"): ("and whitened backgrounds, transparent vs opaque", None),
    ("dedupe", "align_hash_threshold"): ("the correlation those need (hashes also bring lookalikes)", None),
    ("dedupe", "overlay_area"): ("one canvas may differ in one box this large (a watermark)", None),
    ("dedupe", "align_neighbours"): ("candidates a post; a transparent post's nearest at any similarity too", None),
    ("dedupe", "align_threshold"): ("correlation of the aligned grey thumbnails", None),
    ("dedupe", "align_masked_threshold"): ("the same on the opaque pixels when either post is transparent", None),
    ("dedupe", "variants_are_duplicates"): ("parent/child near-copies share a group", None),
    ("dedupe", "derivatives_are_duplicates"): (
        "a region cut out of a picture (`derivative` edges: under 60% of its canvas) shares its group; "
        "false: such pairs stay in dup_edges only",
        None,
    ),
    ("dedupe", "min_precision"): (
        "the setting to turn: an edge whose calibrated precision_estimate is lower joins no group; "
        "raise it (e.g. 0.9) for fewer, surer groups (docs/dedupe.md)",
        None,
    ),
    ("dedupe", "representative"): ("largest | score | parent | most_tags", None),
    ("dedupe", "merge_tags"): ("", None),
    ("dedupe", "contact_sheets"): ("PNGs of the largest groups in out/duplicates/", None),
    ("split", "scheme"): ("stratified | time | id_mod_1000", None),
    ("split", "train"): ("", None),
    ("split", "val"): ("", None),
    ("split", "test"): ("", None),
    ("split", "seed"): ("", None),
    ("split", "group_by_artist"): ("an artist's posts share a split", None),
    ("split", "min_tag_posts"): ("stratify the label tags with at least this many posts", None),
    ("split", "holdout_after"): ('scheme = "time": units whose oldest post is newer go to val/test', "2024-01-01"),
    ("split", "id_mod_train"): ('scheme = "id_mod_1000": ranges of post_id % 1000 (the WD taggers\')', None),
    ("split", "id_mod_val"): ("", None),
    ("split", "id_mod_test"): ("", None),
    ("split", "manifest_posts"): ("representatives | all: duplicates in out/splits/*.parquet", None),
    ("tagger", "folds"): ("K-fold heads: every post predicted by a head that never saw it", None),
    ("tagger", "head"): ("linear | mlp", None),
    ("tagger", "epochs"): ("", None),
    ("tagger", "max_steps"): (
        "optimiser steps per head at most: boards past ~30,000 posts train fewer epochs (time follows the board)",
        None,
    ),
    ("tagger", "batch_size"): ("", None),
    ("tagger", "learning_rate"): ("", None),
    ("tagger", "prior_weighted_loss"): ("the loss of each negative weighted by 1 - the tag's prior (docs/tagger.md)", None),
    ("tagger", "loss"): (
        "bce | asymmetric: negatives shifted by 0.05 and focused by p^4, for labels with missing positives (docs/tagger.md)",
        None,
    ),
    ("tagger", "early_stopping"): (
        "each fold's head kept at the epoch with the lowest loss on the fold's held-out posts (raise epochs "
        "and max_steps with it)",
        None,
    ),
    ("tagger", "patience"): ("early stopping: epochs without a better held-out loss before training stops", None),
    ("tagger", "finetune"): (
        "each fold's head also tunes the embedder's last stages: sees small details pooled embeddings lose; "
        "about 45 s a fold's epoch per 4,000 posts on 2 CPU cores (docs/tagger.md)",
        None,
    ),
    ("tagger", "finetune_blocks"): ("backbone stages tuned, counted from the last", None),
    ("tagger", "finetune_epochs"): ("epochs of a fine-tuned head (capped by max_steps too)", None),
    ("tagger", "finetune_batch_size"): ("", None),
    ("tagger", "finetune_learning_rate"): ("", None),
    ("tagger", "finetune_max_cpu_posts"): ("larger boards fine-tune only on a CUDA GPU", None),
    ("tagger", "neighbours"): ("the nearest posts of the other folds whose tags count as evidence", None),
    ("tagger", "neighbour_weight"): ("their share of each probability, beside the head's; 0: off", None),
    ("tagger", "group_weight"): ("the share of a duplicate group's other members carrying the tag; 0: off", None),
    ("tagger", "context_weight"): (
        "what the post's other labels say of each tag (a per-fold model of tags from tags), "
        "added to its log-odds times this; 0: off",
        None,
    ),
    ("tagger", "warm_start"): (
        "a fold's head continues from the last run's when none of the fold's posts was in its training; false: from scratch",
        None,
    ),
    ("tagger", "warm_start_epochs"): ("epochs of a warm-started head (a scheduled rebuild's new posts and tag edits)", None),
    ("tagger", "warm_start_max_new_tags"): ("share of label tags the last run lacked above which heads start afresh", None),
    ("tagger", "retrain_after_change"): (
        "share of posts new, removed or relabelled since the heads last trained above which a rebuild trains them; "
        "below it the new posts are only predicted by their fold's head; 0: always train",
        None,
    ),
    ("tagger", "threshold"): ("metrics at this probability", None),
    ("tagger", "device"): ("auto | cpu | cuda", None),
    ("tagger", "chunk_tags"): ("predictions stored tag-major, this many tags a file", None),
    ("tagger", "rare_from_rank"): ("metrics: tags at this frequency rank and below count as rare", None),
    ("tagger", "min_posts"): ("comparisons: only tags in at least this many held-out posts", None),
    ("suggest", "tagger"): ("whose out-of-fold probabilities (see `curate evaluate tagger`)", None),
    ("suggest", "min_precision_add"): ("an add is shown when its calibrated precision estimate reaches this", None),
    ("suggest", "min_precision_remove"): ("the same for removals (stricter: a wrong removal loses a right tag)", None),
    ("suggest", "max_per_tag"): ("a tag's suggestions per round of the queue's order (interleaving, not a cut)", None),
    ("suggest", "max_per_post"): ("a post's suggestions per round", None),
    ("suggest", "max_suggestions"): ("the queue's length; 0: every suggestion above the floors", None),
    ("suggest", "min_tag_posts"): ("tags with fewer labelled posts get no suggestions", None),
    ("suggest", "categories"): ("tag categories suggested for; empty: all (pixels say little of artist or meta tags)", None),
    ("suggest", "chunk_tags"): ("tags per parallel task", None),
    ("suggest", "workers"): ('processes; with [runner] kind = "dask", tasks go to the Dask cluster', None),
    ("runner", "kind"): ("local | dask", None),
    ("runner", "address"): ('a Dask scheduler; empty with kind = "dask": a LocalCluster', None),
    ("runner", "workers"): ("", None),
    ("runner", "duckdb_memory_limit"): ("DuckDB spills to disk beyond it (WORKSPACE/catalog.duckdb.tmp)", None),
    ("runner", "lock_wait"): ("seconds to wait for another command's workspace lock; 0: refuse at once", None),
    ("runner", "notify_url"): (
        "a webhook POSTed (JSON) when a rebuild fails; empty: none",
        '"http://127.0.0.1:9000/hooks/curate"',
    ),
    ("suggest", "cleanlab_filter"): ("cleanlab's filter for label issues (see docs/suggest.md)", None),
}

SECTIONS = ("select", "images", "embed", "dedupe", "split", "tagger", "suggest", "runner")
INTRO = {
    "select": (
        "The starter selection is permissive: it drops only deleted and banned posts, so the first\n"
        "run shows the whole board. Each recipe is a few uncommented lines away."
    ),
}
WRITTEN_OUT = {("select", "drop_deleted"), ("select", "drop_banned")}  # set, not commented: the starter's own choice
# Dedupe's thresholds, calibrated on synthetic boards (docs/dedupe.md): accepted in curate.toml but
# left out of the starter, which shows the one setting to turn, [dedupe] min_precision. Each
# edge's precision_estimate says how likely it is right whichever threshold let it in.
EXPERT = {
    ("dedupe", key)
    for key in (
        "phash_radius", "dhash_radius", "close_phash_radius", "close_dhash_radius", "mirror_radius", "mirror_threshold",
        "background_radius", "background_dhash_radius", "opaque_background_radius", "min_information", "near_flat_floor",
        "near_flat_radius", "near_flat_threshold", "composite_tolerance", "composite_max_disagree", "composite_threshold",
        "composite_min_contrast", "semantic_threshold", "whiten_dims", "whitened_threshold", "align_whitened_floor",
        "align_neighbours", "align_hash_radius", "align_background_radius", "align_hash_threshold", "keypoint_neighbours",
        "region_radius", "overlay_area", "align_raw_floor", "align_threshold", "align_masked_threshold",
    )
}  # fmt: skip
EXPERT_NOTE = {
    "dedupe": (
        "The thresholds that decide which pairs become edges at all are expert settings, calibrated on\n"
        'synthetic boards (docs/dedupe.md, "Expert settings"). Each edge carries a precision_estimate,\n'
        "and min_precision above is the setting to turn."
    )
}
STARTER_EXPERT_NOTE = {"dedupe": "They are accepted here too; docs/configuration.md lists them."}


def _line(config, section: str, key: str) -> str:
    from .config import toml_value

    default = getattr(getattr(config, section), key)
    note, example = NOTES[(section, key)]
    if default is None:
        value, note = example, "; ".join(x for x in ("unset by default", note) if x)
    else:
        value = toml_value(default)
        if example is not None:
            note = "; ".join(x for x in (note, f"e.g. {example}") if x)
    text = f"{key} = {value}" if (section, key) in WRITTEN_OUT else f"# {key} = {value}"
    return f"{text:<37} # {note}".rstrip() if note else text


def starter_sections() -> str:
    """Every section of curate.toml, every key with its default (from the models) and its note."""
    from .config import Config

    config = Config()
    blocks = []
    for section in SECTIONS:
        lines = [f"[{section}]"]
        lines += [f"# {line}" for line in INTRO.get(section, "").splitlines()]
        lines += [
            _line(config, section, key) for key in type(getattr(config, section)).model_fields if (section, key) not in EXPERT
        ]
        note = "\n".join(filter(None, (EXPERT_NOTE.get(section), STARTER_EXPERT_NOTE.get(section))))
        lines += [f"# {line}" for line in note.splitlines()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def reference_markdown() -> str:
    """The key reference of docs/configuration.md: a table per section (defaults from the models)."""
    from .config import Config, toml_value

    config = Config()
    out = []
    for section in SECTIONS:
        keys = list(type(getattr(config, section)).model_fields)
        for title, shown_keys in (
            (f"### [{section}]", [k for k in keys if (section, k) not in EXPERT]),
            (f"### [{section}]: expert settings", [k for k in keys if (section, k) in EXPERT]),
        ):
            if not shown_keys:
                continue
            out += [title, ""]
            if title.endswith("expert settings"):
                out += [EXPERT_NOTE[section].replace("\n", " "), ""]
            out += ["| key | default | what |", "|---|---|---|"]
            for key in shown_keys:
                default = getattr(getattr(config, section), key)
                note, example = NOTES[(section, key)]
                if example is not None:
                    note = "; ".join(x for x in (note, f"e.g. `{example}`") if x)
                shown = "unset" if default is None else f"`{toml_value(default)}`"
                out.append(f"| `{key}` | {shown} | {note.replace('|', '/')} |")
            out.append("")
    return "\n".join(out)
