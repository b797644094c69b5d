"""``curate suggest``: ranked add/remove tag suggestions for moderators, and their decisions.

1. Decisions moderators wrote into ``out/review.sqlite`` since the last run are folded into
   the catalog's ``decisions`` table (the catalog is the record; review.sqlite is rewritten).
2. The configured tagger's out-of-fold probabilities and the posts' labels (accepted decisions
   applied) go through cleanlab per tag, in parallel chunks of tags (processes, or a Dask
   cluster with ``[runner] kind = "dask"``), reading the tag-major store: memory stays bounded.
3. Each flag gets a precision estimate, calibrated on the same out-of-fold probabilities
   (:mod:`curation.suggest.calibrate`) and corrected by moderators' verdicts on its tag so far.
   Implications are respected (:mod:`curation.suggest.relations`), decided (post, tag, action)
   triples are never suggested again, removals the post's duplicate group contradicts are
   dropped, and every flag at or above ``min_precision_add`` / ``min_precision_remove`` is
   ranked by its estimate, interleaved so that no tag or post fills the top
   (:func:`~curation.suggest.relations.interleave`).
4. Outputs: table ``suggestions``; ``out/suggestions.json`` (schema_version 2, validated against
   the JSON Schema shipped in ``curation/schemas/``); ``out/incomplete_posts.json``
   (``{"tag": [post_id, ...]}`` for adds, the layout of the Danbooru cleanlab tooling);
   ``out/review.sqlite`` (suggestions, posts, tags, decisions; browsable in Datasette);
   ``out/tag_edits.csv`` (accepted decisions: the edits to make on the board).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..catalog import Catalog, open_catalog
from ..config import Config
from ..context import Where, stage_context
from ..decisions import acceptance_rates, import_review_rows
from ..errors import CurationError, StageNotRun
from ..processes import worker_pool
from ..progress import progress
from ..tagger.store import PredictionStore, open_recorded
from ..tagger.train import labelled_posts
from . import reuse
from .calibrate import Calibration, with_feedback
from .detect import TagTask, run_task
from .relations import Suggestion, against_group_consensus, apply_implications, interleave
from .review import export_tag_edits, write_review_db

log = logging.getLogger(__name__)
SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "suggestions.schema.json"


@dataclass
class SuggestReport:
    tagger: str = ""
    posts: int = 0
    tags: int = 0
    flagged: int = 0  # labels cleanlab flags (before relations, decisions and the precision floor)
    skipped_decided: int = 0
    against_group: int = 0  # removals the post's duplicate group contradicts
    below_precision: int = 0  # flags whose precision estimate is under [suggest] min_precision_*
    missing_rate: float = 0.0  # the board's noise rates as calibration read them (calibrate.py)
    wrong_share: float = 0.0
    sure_tags: int = 0
    since_last: dict[str, int] | None = None  # added, resolved, withdrawn against the last run
    suggestions: int = 0
    adds: int = 0
    removes: int = 0
    decisions_imported: int = 0
    out: Path | None = None
    scope_tags: list[str] | None = None  # tags suggestions were made for
    scope_posts: np.ndarray | None = None  # posts that had probabilities
    reran_tags: int = 0  # tags cleanlab ran on
    kept_tags: int = 0  # tags whose inputs had not changed: the last run's flags stand (reuse.py)


def _executor(config: Config):
    """(executor, closer): processes here, or a Dask cluster's workers."""
    if config.runner.kind == "dask":
        from distributed import Client, LocalCluster

        if config.runner.address:
            client = Client(config.runner.address)
            return client.get_executor(), client.close
        cluster = LocalCluster(n_workers=config.suggest.workers, threads_per_worker=1, dashboard_address=None, processes=True)
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client.get_executor(), close
    pool = worker_pool(config.suggest.workers)
    return pool, pool.shutdown


def run_suggest(workspace: Where) -> SuggestReport:
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    cfg = config.suggest
    out = workspace / "out"
    out.mkdir(exist_ok=True)
    report = SuggestReport(tagger=cfg.tagger, out=out)
    report.decisions_imported = import_review_rows(workspace)
    with ctx.staged() as cat:
        folder = cat.scalar("SELECT folder FROM taggers WHERE name = ?", [cfg.tagger])
        if folder is None:
            known = [r[0] for r in cat.rows("SELECT name FROM taggers")]
            raise CurationError(
                f"{workspace}: no predictions from tagger {cfg.tagger!r}; "
                + (f"known: {', '.join(known)} ([suggest] tagger)" if known else "run `curate train` first")
            )
        store = open_recorded(workspace, folder)
        data = labelled_posts(cat)
        suggestions, flag_cache = _flag(config, store, data, report, workspace)
        suggestions = _filter(cat, suggestions, report)
        rates = acceptance_rates(workspace, by_action=True)
        for s in suggestions:  # moderators' verdicts on a tag so far correct its estimates
            verdicts = rates.get((s.tag, s.action), (0, 0))
            s.precision = with_feedback(s.precision, *verdicts)
        floor = {"add": cfg.min_precision_add, "remove": cfg.min_precision_remove}
        shown = [s for s in suggestions if s.precision >= floor[s.action]]
        report.below_precision = len(suggestions) - len(shown)
        suggestions = interleave(shown, cfg.max_per_tag, cfg.max_per_post, cfg.max_suggestions)
        category = dict(zip(data.tags["name"], data.tags["category"]))
        frame = pl.DataFrame(
            [
                (
                    i + 1,
                    s.post_id,
                    s.tag,
                    category.get(s.tag, ""),
                    s.action,
                    round(s.precision, 4),
                    round(s.confidence, 4),
                    round(s.label_quality, 4),
                    s.implies,
                )
                for i, s in enumerate(suggestions)
            ],
            schema={
                "rank": pl.Int64,
                "post_id": pl.Int64,
                "tag": pl.Utf8,
                "category": pl.Utf8,
                "action": pl.Utf8,
                "precision_estimate": pl.Float64,
                "confidence": pl.Float64,
                "label_quality": pl.Float64,
                "implies": pl.List(pl.Utf8),
            },
            orient="row",
        )
        with cat.registered("new_suggestions", frame.to_arrow()):
            if cat.has_table("suggestions"):
                added, resolved, withdrawn = cat.run("marts/suggestions_since").fetchone()
                report.since_last = {"added": int(added), "resolved": int(resolved), "withdrawn": int(withdrawn)}
            else:
                report.since_last = {"added": frame.height, "resolved": 0, "withdrawn": 0}
            cat.con.execute("CREATE OR REPLACE TABLE suggestions AS SELECT * FROM new_suggestions ORDER BY rank")
        for table, column, values, dtype in (
            ("suggest_scope_tags", "name", report.scope_tags, pl.Utf8),
            ("suggest_scope_posts", "post_id", report.scope_posts, pl.Int64),
        ):
            with cat.registered("new_scope", pl.DataFrame({column: values}, schema={column: dtype}).to_arrow()):
                cat.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM new_scope")
        report.suggestions = frame.height
        report.adds = int((frame["action"] == "add").sum())
        report.removes = report.suggestions - report.adds
        write_outputs(cat, config, store, frame, workspace)
    reuse.save(workspace, *flag_cache)  # once the run has succeeded
    return report


def _flag(config: Config, store: PredictionStore, data, report: SuggestReport, workspace: Path) -> tuple[list[Suggestion], tuple]:
    """cleanlab over every tag both the store and the labels know, in parallel chunks (the tags
    whose inputs did not change keep the last run's flags: reuse.py). Returns the suggestions
    and what :func:`reuse.save` keeps for the next run."""
    cfg = config.suggest
    store_ids = store.post_ids
    position = {int(p): i for i, p in enumerate(data.post_ids)}
    labelled = np.array([position.get(int(p), -1) for p in store_ids])
    predicted = labelled >= 0
    tag_names = store.tags
    label_index = {n: int(i) for n, i in zip(data.tags["name"], data.tags["idx"])}
    # positives per store tag, in store post order
    entry_rows = np.repeat(np.arange(len(data.post_ids)), np.diff(data.indptr))
    store_pos_of_row = np.full(len(data.post_ids), -1)
    store_pos_of_row[labelled[predicted]] = np.flatnonzero(predicted)
    entry_store_rows = store_pos_of_row[entry_rows]
    keep = entry_store_rows >= 0
    order = np.argsort(data.indices[keep], kind="stable")
    tags_sorted, rows_sorted = data.indices[keep][order], entry_store_rows[keep][order]
    bounds = np.flatnonzero(np.diff(tags_sorted)) + 1
    by_tag = {int(part[0]): rows for part, rows in zip(np.split(tags_sorted, bounds), np.split(rows_sorted, bounds)) if len(part)}
    category = dict(zip(data.tags["name"], data.tags["category"]))
    known = [
        j
        for j, n in enumerate(tag_names)
        if n in label_index
        and len(by_tag.get(label_index[n], ())) >= cfg.min_tag_posts
        and (not cfg.categories or category[n] in cfg.categories)
    ]
    known_set = set(known)
    fingerprints = {j: reuse.positives_fingerprint(store_ids[by_tag[label_index[tag_names[j]]]]) for j in known}
    key = reuse.cache_key(store.meta, cfg.cleanlab_filter)
    cached = reuse.load(workspace, key)
    reuse_floor: dict[int, float] = {}
    new_rows = np.zeros(0, np.int64)
    if cached is not None:
        new_rows = np.flatnonzero(predicted & ~np.isin(store_ids, cached.posts))
        reuse_floor = {
            j: cached.floor[tag_names[j]]
            for j in known
            if tag_names[j] in cached.floor and cached.fingerprint.get(tag_names[j]) == fingerprints[j]
        }
    report.scope_tags = [tag_names[j] for j in known]
    report.scope_posts = store_ids[predicted]
    report.posts, report.tags = int(predicted.sum()), len(known)
    tasks = []
    for start in range(0, len(tag_names), cfg.chunk_tags):
        stop = min(start + cfg.chunk_tags, len(tag_names))
        positives = [
            np.asarray(by_tag.get(label_index[tag_names[j]], []) if j in known_set else [], dtype=np.int64)
            for j in range(start, stop)
        ]
        floors_here = {j: f for j, f in reuse_floor.items() if start <= j < stop}
        tasks.append(TagTask(str(store.folder), start, stop, positives, predicted, cfg.cleanlab_filter, floors_here, new_rows))
    raw: list[tuple] = []
    evidence, floors = {}, {}
    executor, close = _executor(config)
    try:
        with progress(f"cleanlab over {len(known)} tags", len(tasks)) as advance:
            for flagged, tag_evidence, tag_floors in executor.map(run_task, tasks):
                raw.extend(flagged)
                evidence.update(tag_evidence)
                floors.update(tag_floors)
                advance(1)
    finally:
        close()
    kept = [j for j in reuse_floor if j not in floors]
    report.kept_tags, report.reran_tags = len(kept), len(known) - len(kept)
    if kept:
        column = {tag_names[j]: j for j in kept}
        row_of = {int(p): i for i, p in zip(np.flatnonzero(predicted).tolist(), store_ids[predicted].tolist())}
        for tag, post, is_add, p, quality in cached.flags_of(set(column)).iter_rows():
            if post in row_of:  # a post that left takes its flags with it
                raw.append((row_of[post], column[tag], is_add, p, quality))
        log.info("cleanlab on %d tags; %d unchanged since the last run kept their flags", report.reran_tags, len(kept))
    report.flagged = len(raw)
    flag_cache = (
        key,
        store_ids[predicted],
        pl.DataFrame(
            {
                "tag": [tag_names[j] for j in known],
                "fingerprint": [fingerprints[j] for j in known],
                "floor": [floors[j] if j in floors else reuse_floor[j] for j in known],
            },
            schema={"tag": pl.Utf8, "fingerprint": pl.UInt64, "floor": pl.Float64},
        ),
        pl.DataFrame(
            [(tag_names[tag], int(store_ids[row]), is_add, p, quality) for row, tag, is_add, p, quality in raw],
            schema=reuse.FLAG_SCHEMA,
            orient="row",
        ),
    )
    calibration = Calibration({tag_names[j]: e for j, e in evidence.items()})
    report.missing_rate, report.wrong_share, report.sure_tags = (
        calibration.missing_rate,
        calibration.wrong_share,
        calibration.sure_tags,
    )
    suggestions = [
        Suggestion(int(store_ids[row]), tag_names[tag], "add" if is_add else "remove", p, quality)
        for row, tag, is_add, p, quality in raw
    ]
    by_kind: dict[tuple[str, str], list[Suggestion]] = {}
    for s in suggestions:
        by_kind.setdefault((s.tag, s.action), []).append(s)
    for (tag, action), items in by_kind.items():
        for s, precision in zip(items, calibration.precision(tag, action, np.array([s.probability for s in items]))):
            s.precision = float(precision)
    return suggestions, flag_cache


def _filter(cat: Catalog, suggestions: list[Suggestion], report: SuggestReport) -> list[Suggestion]:
    """Implications, then decisions (a decided (post, tag, action) never comes back, and an
    accepted change is not reversed by a suggestion of the opposite action), then removals
    that the post's duplicate group contradicts."""
    parents: dict[str, set[str]] = {}
    if cat.has_table("tag_implication_closure"):
        for child, parent in cat.rows("SELECT antecedent, consequent FROM tag_implication_closure"):
            parents.setdefault(child, set()).add(parent)
    posts = sorted({s.post_id for s in suggestions})
    post_tags: dict[int, set[str]] = {}
    if posts:
        with cat.registered("wanted_posts", pl.DataFrame({"post_id": posts}).to_arrow()):
            for post, name in cat.rows(
                "SELECT pt.post_id, t.name FROM post_labels pt JOIN tags t USING (tag_id) "
                "WHERE pt.post_id IN (SELECT post_id FROM wanted_posts)"
            ):
                post_tags.setdefault(post, set()).add(name)
    kept = apply_implications(suggestions, post_tags, parents)
    decided = {(p, t, a): d for p, t, a, d in cat.rows("SELECT post_id, tag, action, decision FROM decisions")}
    opposite = {"add": "remove", "remove": "add"}
    out = [
        s
        for s in kept
        if (s.post_id, s.tag, s.action) not in decided and decided.get((s.post_id, s.tag, opposite[s.action])) != "accept"
    ]
    report.skipped_decided = len(kept) - len(out)
    consensus: dict[tuple[int, str], tuple[int, int]] = {}
    removing = sorted({s.post_id for s in out if s.action == "remove"})
    if removing and cat.has_table("dup_groups"):
        with cat.registered("wanted_posts", pl.DataFrame({"post_id": removing}).to_arrow()):
            consensus = {
                (post, tag): (mates, carrying) for post, mates, tag, carrying in cat.run("marts/group_consensus").fetchall()
            }
    agreed = [s for s in out if not against_group_consensus(s, *consensus.get((s.post_id, s.tag), (0, 0)))]
    report.against_group = len(out) - len(agreed)
    return agreed


def write_outputs(cat: Catalog, config: Config, store: PredictionStore, frame: pl.DataFrame, workspace: Path) -> None:
    import jsonschema

    out = workspace / "out"
    meta = store.meta
    document = {
        "schema_version": 2,
        "dataset": config.dataset,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": {
            "kind": meta.get("kind", "external"),
            "embedder": meta.get("embedder"),
            "folds": meta.get("folds"),
            "name": meta.get("name", config.suggest.tagger),
        },
        "suggestions": [{k: v for k, v in row.items() if k != "implies" or v} for row in frame.to_dicts()],
    }
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    (out / "suggestions.json").write_text(json.dumps(document, indent=1) + "\n")
    incomplete: dict[str, list[int]] = {}
    for tag, post in frame.filter(pl.col("action") == "add").select("tag", "post_id").iter_rows():
        incomplete.setdefault(tag, []).append(post)
    (out / "incomplete_posts.json").write_text(json.dumps({t: sorted(p) for t, p in sorted(incomplete.items())}, indent=1) + "\n")
    write_review_db(cat, frame, out / "review.sqlite", workspace)
    export_tag_edits(
        cat.rows(
            "SELECT post_id, tag, action, decision, moderator, decided_at::VARCHAR, note FROM decisions "
            "ORDER BY decided_at, post_id, tag"
        ),
        out / "tag_edits.csv",
    )


def load_suggestions(workspace: Path | str) -> pl.DataFrame:
    with open_catalog(workspace, read_only=True) as cat:
        if not cat.has_table("suggestions"):
            raise StageNotRun(f"{workspace}: no suggestions yet; run `curate suggest {workspace}` first")
        return cat.frame("marts/suggestions_current")
