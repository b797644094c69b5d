"""The ``curate`` command: a thin click layer over the library.

Commands parse arguments, call one library function, and print. A ``CurationError`` becomes
one line ``error: ...`` and exit 1; click's usage errors exit 2; anything else is a bug: one
line and exit 3; 130 when interrupted. Tracebacks only with ``--verbose``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path

import click

from . import __version__, progress
from .errors import CurationError

log = logging.getLogger("curation")
INTERNAL_ERROR = 3  # exit code of a failure that is not the user's (a bug); 1: the data or config, 2: usage
workspace_argument = click.argument("workspace", type=click.Path(file_okay=False, path_type=Path))
truth_option = click.option(
    "--truth",
    "truth_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The truth/ folder of the board made by `curate synth`.",
)


def _console():
    """A rich console; 120 columns when not on a terminal, so piped tables are not cut. Markup is
    off: tag names and paths are printed as they are (a tag like "[/b]" is not markup)."""
    from rich.console import Console

    return Console(markup=False) if sys.stdout.isatty() else Console(width=120, markup=False)


class CurateGroup(click.Group):
    """Turns library errors into one-line messages with the contract's exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CurationError as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: say so in one line unless asked for the traceback
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(
                f"error: unexpected {type(exc).__name__}: {first} (a bug; rerun with --verbose for the traceback)", err=True
            )
            ctx.exit(INTERNAL_ERROR)


@click.group(cls=CurateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="curate")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details and show tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def main(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """booru-curate: curate tagged image-board datasets and find tag errors.

    Typical use: `curate init WS --source DUMP_DIR`, then run the stages on WS.
    `curate demo` does everything on a synthetic board, offline.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["quiet"] = quiet
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    progress.enable(not quiet and sys.stderr.isatty())


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--posts", "-n", type=click.IntRange(min=1), required=True, help="Number of posts.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; the same seed gives the same board.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["danbooru2021", "danbooru2017", "e621"]),
    default="danbooru2021",
    show_default=True,
    help="Export format of the metadata.",
)
@click.option(
    "--image-size",
    type=click.IntRange(32, 4096),
    default=256,
    show_default=True,
    help="Long side of a typical image in px (sizes vary around it).",
)
@click.option("--no-images", is_flag=True, help="Metadata and truth only (fast; md5s are synthetic).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Processes rendering images.")
@click.option("--overwrite", is_flag=True, help="Replace a board already in OUT.")
@click.option(
    "--earlier",
    is_flag=True,
    help="Also write OUT/earlier/: the same board a day before (1%% fewer posts, some tag edits, "
    "deletions, an alias and an implication not yet there), for rebuild benchmarks.",
)
@click.option(
    "--reposts",
    type=click.Choice(["classic", "all"]),
    default="classic",
    show_default=True,
    help="Duplicate kinds planted: classic (exact, re-encodes, resizes, small crops, borders, ...), or all: also "
    "heavy and corner crops, turns, censor bars, mosaics, captions, signatures, greyscale, destroyed JPEGs, several "
    "edits together, and hard negatives (other pictures sharing a palette, a layout or a character design).",
)
@click.option(
    "--duplicate-rate",
    type=click.FloatRange(0.0, 0.9),
    default=0.10,
    show_default=True,
    help="Share of posts that are planted duplicates of an earlier post.",
)
def synth(
    out: Path,
    posts: int,
    seed: int,
    fmt: str,
    image_size: int,
    no_images: bool,
    workers: int,
    overwrite: bool,
    earlier: bool,
    reposts: str,
    duplicate_rate: float,
) -> None:
    """Generate a synthetic board dump with images and ground truth in OUT/truth/."""
    from .synth import generate_board

    manifest = generate_board(
        out,
        posts,
        seed=seed,
        fmt=fmt,
        image_size=image_size,
        images=not no_images,
        workers=workers,
        overwrite=overwrite,
        earlier=earlier,
        reposts=reposts,
        duplicate_rate=duplicate_rate,
    )
    _print_board_summary(out, manifest)


def _print_board_summary(out: Path, manifest: dict) -> None:
    from rich.table import Table

    counts = manifest["counts"]
    table = Table(title=f"synthetic {manifest['format']} board in {out}", show_header=False)
    table.add_row("posts", str(counts["posts"]))
    table.add_row("distinct tags in the dump", str(counts["tags_in_dump"]))
    table.add_row(
        "planted duplicates", f"{counts['duplicates']} ({', '.join(f'{k} {v}' for k, v in counts['duplicates_by_kind'].items())})"
    )
    table.add_row("planted missing / wrong tags", f"{counts['missing_tags']} / {counts['wrong_tags']}")
    table.add_row("bad files", str(counts["bad_files"]))
    table.add_row("deleted / banned posts", f"{counts['deleted']} / {counts['banned']}")
    table.add_row("images", "yes" if manifest["images"] else "no (--no-images)")
    table.add_row("ground truth", str(out / "truth"))
    if "earlier" in manifest:
        e = manifest["earlier"]
        table.add_row(
            "earlier snapshot",
            f"{out / 'earlier'}: {e['posts_earlier']} posts; since then {e['new_posts']} new "
            f"({e['new_duplicates_of_old_posts']} duplicates of older posts), {e['deleted_since']} deleted, "
            f"{e['tag_edits']} tag edits, alias {' -> '.join(e['new_alias'])}, implication {' -> '.join(e['new_implication'])}",
        )
    _console().print(table)


def writes_workspace(command):
    """A stage command holds the workspace's write lock from start to end. Stages read the
    catalog to plan before their writes take the lock; a second writer started in between would
    find the catalog file busy instead of being refused with one line naming the holder."""

    @functools.wraps(command)
    def locked(workspace: Path, *args, **kwargs):
        if not Path(workspace).is_dir():  # the stage's own error says there is no workspace
            return command(workspace, *args, **kwargs)
        from .catalog import lock_wait
        from .lock import workspace_lock

        with workspace_lock(workspace, lock_wait(workspace)):
            return command(workspace, *args, **kwargs)

    return locked


@main.command()
@workspace_argument
@click.option(
    "--source",
    "sources",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="A dump file or board folder; repeat for several. Formats are detected.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing curate.toml.")
def init(workspace: Path, sources: tuple[Path, ...], overwrite: bool) -> None:
    """Create WORKSPACE with a commented starter curate.toml for the given dumps."""
    from .workspace import init_workspace

    config, detected = init_workspace(workspace, list(sources), overwrite=overwrite)
    click.echo(f"wrote {config}")
    for s in detected:
        click.echo(f"  {s.format:<15} {s.path}" + (f"  (images: {s.images})" if s.images else ""))


@main.command()
@workspace_argument
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="Accept a full dump that removes most of its posts (refused by default: an emptied file).",
)
@writes_workspace
def ingest(workspace: Path, allow_shrink: bool) -> None:
    """Read every source in curate.toml into WORKSPACE/catalog.duckdb.

    Bad rows go to the ingest_rejects table with their position and reason. Re-ingesting the
    same files changes nothing ("unchanged": the same bytes as when that path was last
    ingested); a newer full dump updates changed posts and marks posts it no longer lists as
    removed. A full dump, or a file of it, that would lose more than half of its posts is
    refused unless --allow-shrink.
    """
    from rich.table import Table

    from .ingest import ingest as run_ingest

    report = run_ingest(workspace, allow_shrink=allow_shrink)
    table = Table(title=f"ingest {workspace}")
    for col in ("source", "format", "files", "rows", "rejects", "new", "changed", "removed"):
        table.add_column(col, justify="left" if col in ("source", "format") else "right")
    for s in report.sources:
        files = f"{s.files}" + (f" ({s.skipped_files} unchanged)" if s.skipped_files else "")
        table.add_row(Path(s.path).name, s.format, files, str(s.rows), str(s.rejects), str(s.new), str(s.changed), str(s.removed))
    console = _console()
    console.print(table)
    console.print(
        f"catalog: {report.posts} live posts, {report.tags} tags in use, {report.post_tags} post tags, "
        f"{report.rejects} rejected rows (table ingest_rejects)"
    )
    if report.alias_cycles:
        console.print(
            f"warning: active aliases form a cycle through {len(report.alias_cycles)} names, which keep their own "
            f"(table tag_canonical, cycle): {', '.join(report.alias_cycles[:10])}"
        )


@main.command()
@workspace_argument
@writes_workspace
def select(workspace: Path) -> None:
    """Apply the [select] filters of curate.toml to the catalog and print the audit.

    Writes the tables selection, selected_tags and select_audit.
    """
    from rich.table import Table

    from .select import select as run_select

    report = run_select(workspace)
    table = Table(title=f"select {workspace}")
    for col in ("step", "posts before", "posts after", "dropped"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for row in report.audit:
        table.add_row(row.step, str(row.posts_before), str(row.posts_after), str(row.posts_before - row.posts_after))
    console = _console()
    console.print(table)
    console.print(f"selected {report.posts} posts and {report.tags} label tags (tables selection, selected_tags)")


@main.command()
@workspace_argument
@writes_workspace
def images(workspace: Path) -> None:
    """Find, validate and hash the file of every selected post.

    Writes the tables images (status ok, missing, corrupt, bomb, or animated/transparent when
    [images] drops them, with the reason) and image_hashes (exact and perceptual hashes by md5).
    """
    from .images import run_images

    report = run_images(workspace)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(report.statuses.items(), key=lambda kv: -kv[1]))
    click.echo(f"inspected {report.inspected} files ({report.unchanged} unchanged since the last run): {statuses}")


@main.command()
@workspace_argument
@writes_workspace
def embed(workspace: Path) -> None:
    """Embed every selected image file with the model in [embed] model.

    Vectors are float16, L2-normalised, stored in WORKSPACE/cache/embeddings/ and indexed in
    the table embeddings by (file md5, embedder): a re-run embeds only new files, a new model or
    preprocessing embeds everything again. Offline: missing weights fail at once, naming the
    file to fetch and where to put it.
    """
    from .embed import run_embed

    report = run_embed(workspace)
    rate = f" in {report.seconds:.1f}s ({report.images_per_second:.1f} images/s on {report.device})" if report.embedded else ""
    click.echo(f"embedded {report.embedded} files{rate}; {report.cached} were already stored for {report.embedder}")
    for path, error in report.failed[:10]:
        click.echo(f"  could not read {path}: {error}")
    if report.failed:
        click.echo(f"{len(report.failed)} files failed (table embed_rejects)")


@main.command()
@workspace_argument
@writes_workspace
def dedupe(workspace: Path) -> None:
    """Group duplicate posts by their file hashes and embeddings.

    Edges of kind exact (same bytes), pixels (same decoded pixels), perceptual and mirror (pHash
    within [dedupe] phash_radius, confirmed by dHash; mirrors and near-flat pictures also by
    their pixels), background (a transparent image and its copy on a colour, by whitened
    backgrounds), semantic (embeddings alike beyond [dedupe] whitened_threshold; needs `curate
    embed`), aligned (one picture found inside the other, pixel by pixel: crops, padding, a
    transparent drawing on a colour) and variant (a match inside a parent/child family) ->
    tables dup_edges, dup_groups and out/duplicates.parquet.
    """
    from .dedupe import run_dedupe

    report = run_dedupe(workspace)
    edges = ", ".join(f"{n} {k}" for k, n in sorted(report.edges.items(), key=lambda kv: -kv[1])) or "none"
    click.echo(f"{report.posts} posts with decodable files; edges: {edges}")
    click.echo(
        f"{report.groups} duplicate groups holding {report.grouped_posts} posts "
        f"(tables dup_edges, dup_groups; {Path(workspace) / 'out' / 'duplicates.parquet'})"
    )


def _print_leakage(name: str, leak) -> None:
    from rich.table import Table

    table = Table(title=f"leakage: {name}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for split, n in sorted(leak.posts.items()):
        table.add_row(f"posts in {split}", str(n))
    table.add_row("duplicate groups crossing splits", f"{leak.crossing_groups} of {leak.groups}")
    table.add_row("parent/child families crossing splits", f"{leak.crossing_families} of {leak.families}")
    for kind, n in sorted(leak.crossing_edges.items()):
        table.add_row(f"{kind} edges crossing splits", str(n))
    table.add_row("val/test posts with a duplicate or relative in train", str(leak.leaked_posts))
    _console().print(table)


@main.command()
@workspace_argument
@click.option(
    "--check",
    "check",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[SPLIT_FILE]",
    help="Only count what crosses splits: the workspace's split, a file (CSV/parquet with post_id,split, "
    "or a folder of <split>.txt id lists), or plain-id-mod-1000 for the plain post_id % 1000 scheme.",
)
@click.option("--reassign", is_flag=True, help="Assign every post afresh instead of keeping earlier assignments.")
@writes_workspace
def split(workspace: Path, check: str | None, reassign: bool) -> None:
    """Assign every selected post to train, val or test, with no duplicate group or family split.

    Scheme from [split] scheme: stratified (multi-label, by label tags), time (a holdout after
    a date) or id_mod_1000 (the WD taggers' ranges). Writes table splits and out/splits/
    (per split a parquet manifest and a list of paths, selected_tags.csv, tag_stats.parquet).
    """
    from .split import check_split, run_split

    if check is not None:
        name, leak = check_split(workspace, check or None)
        _print_leakage(name, leak)
        return
    report = run_split(workspace, reassign=reassign)
    sizes = ", ".join(f"{n} {s}" for s, n in report.posts.items())
    kept = f"; {report.kept} posts kept their earlier split, {report.moved} moved" if report.kept or report.moved else ""
    click.echo(f"{report.scheme} split of {sum(report.posts.values())} posts in {report.units} units: {sizes}{kept}")
    if report.coverage:
        click.echo("stratified tags present in each split: " + ", ".join(f"{s} {c:.1%}" for s, c in report.coverage.items()))
    _print_leakage("this split", report.leakage)
    click.echo(f"manifests: {report.manifests}")


@main.command()
@workspace_argument
@writes_workspace
def train(workspace: Path) -> None:
    """Out-of-fold tag probabilities for every selected post from K-fold heads on the embeddings.

    Posts are dealt into [tagger] folds (default 5) whole duplicate groups and families at a
    time, stratified by tag; each fold is predicted by a head trained on the others. Writes
    cache/predictions/kfold-heads/ (float16, tag-major) and table tagger_folds.
    """
    from .tagger import run_train

    report = run_train(workspace)
    if report.mode == "topped up":
        click.echo(
            f"kept the {report.folds} heads ({report.changed_share:.1%} of posts changed since they trained, "
            f"[tagger] retrain_after_change): predicted {report.new_posts} new posts, dropped {report.removed_posts}, "
            f"in {report.seconds:.1f}s; {report.folder}"
        )
    else:
        click.echo(
            f"trained {report.folds} heads in {report.seconds:.1f}s ({report.why_trained}): out-of-fold probabilities "
            f"for {report.posts} posts x {report.tags} tags in {report.folder}"
        )
    if report.without_embedding:
        click.echo(f"{report.without_embedding} selected posts have no embedding (run `curate embed`) and were skipped")


@main.command()
@workspace_argument
@click.option("--onnx", "onnx_model", type=click.Path(dir_okay=False, path_type=Path), help="A WD14-style ONNX tagger.")
@click.option(
    "--predictions",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Probabilities to import: .parquet (post_id + a column per tag, or a 'probabilities' list) or .npy.",
)
@click.option(
    "--tags",
    "tags_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The tagger's tag names: selected_tags.csv (column name) or a text file, one a line.",
)
@click.option("--post-ids", type=click.Path(dir_okay=False, path_type=Path), help="With an .npy: the post ids of its rows.")
@click.option("--name", help="Name for the comparison tables (default onnx:<model> or imported:<file>).")
@click.option("--size", type=int, default=448, show_default=True, help="ONNX input size (a size the model declares wins).")
@click.option("--rgb", is_flag=True, help="Feed RGB instead of the WD taggers' BGR.")
@click.option("--nchw", is_flag=True, help="Feed NCHW instead of NHWC.")
@click.option("--unit-scale", is_flag=True, help="Pixel values 0-1 instead of 0-255.")
@writes_workspace
def score(
    workspace: Path,
    onnx_model: Path | None,
    predictions: Path | None,
    tags_file: Path | None,
    post_ids: Path | None,
    name: str | None,
    size: int,
    rgb: bool,
    nchw: bool,
    unit_scale: bool,
) -> None:
    """Predictions from an external tagger: run an ONNX model, or import a file of probabilities.

    Tag names map onto the catalog's through its aliases. The result is registered for
    `curate evaluate tagger` (side by side with our heads) and `curate suggest`.
    """
    from .tagger.external import OnnxInput, import_predictions, score_onnx

    if (onnx_model is None) == (predictions is None):
        raise click.UsageError("give exactly one of --onnx MODEL or --predictions FILE")
    if onnx_model is not None:
        if tags_file is None:
            raise click.UsageError("--onnx needs --tags selected_tags.csv")
        store = score_onnx(
            workspace,
            onnx_model,
            tags_file,
            name,
            OnnxInput(size=size, bgr=not rgb, layout="NCHW" if nchw else "NHWC", scale=1 / 255 if unit_scale else 1.0),
        )
    else:
        store = import_predictions(workspace, predictions, tags_file, post_ids, name)
    meta = store.meta
    click.echo(f"{meta['name']}: probabilities for {meta['posts']} posts x {meta['tags']} tags in {store.folder}")


@main.command()
@workspace_argument
@writes_workspace
def suggest(workspace: Path) -> None:
    """Ranked add/remove tag suggestions for moderators, with cleanlab on out-of-fold probabilities.

    Implication-aware; decisions already made (review.sqlite or `curate review`) are never
    suggested again. Writes table suggestions, out/suggestions.json, out/incomplete_posts.json,
    out/review.sqlite (open it in Datasette) and out/tag_edits.csv.
    """
    from .suggest import run_suggest

    report = run_suggest(workspace)
    if report.decisions_imported:
        click.echo(f"{report.decisions_imported} decisions imported from {report.out / 'review.sqlite'}")
    click.echo(
        f"{report.tagger}: {report.posts} posts x {report.tags} tags through cleanlab"
        + (f" ({report.kept_tags} unchanged since the last run kept their flags)" if report.kept_tags else "")
        + f"; {report.flagged} flags, "
        f"{report.skipped_decided} already decided, {report.against_group} removals the duplicate group contradicts, "
        f"{report.below_precision} under the precision floors"
    )
    click.echo(
        f"noise rates: {report.missing_rate:.1%} of true tags left off, {report.wrong_share:.1%} of labels wrong "
        + (
            f"(read from the {report.sure_tags} tags the tagger is sure of)"
            if report.sure_tags
            else "(defaults: no tag is known well enough to read them)"
        )
    )
    click.echo(
        f"{report.suggestions} suggestions ({report.adds} add, {report.removes} remove) in "
        f"{report.out / 'suggestions.json'}, {report.out / 'review.sqlite'}"
    )


@main.command()
@workspace_argument
@click.option("--accept", multiple=True, metavar="POST_ID:TAG[:ACTION]", help="Accept a suggestion (repeatable).")
@click.option("--reject", multiple=True, metavar="POST_ID:TAG[:ACTION]", help="Reject a suggestion (repeatable).")
@click.option("--moderator", default=lambda: os.environ.get("USER", ""), show_default="$USER", help="Who decided.")
@click.option("--note", default="", help="A note stored with these decisions.")
@click.option(
    "--file",
    "decision_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A CSV of decisions: columns post_id, tag, decision (accept|reject), optional action and note.",
)
@click.option("--serve", is_flag=True, help="Open the review page (a local web app) instead of recording decisions here.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="With --serve: the address to bind (loopback unless --token)."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="With --serve: the port.")
@click.option(
    "--token", help="With --serve: a secret every request must carry ('generate' for a random one); needed off loopback."
)
def review(
    workspace: Path,
    accept: tuple[str, ...],
    reject: tuple[str, ...],
    moderator: str,
    note: str,
    decision_file: Path | None,
    serve: bool,
    host: str,
    port: int,
    token: str | None,
) -> None:
    """Record moderators' decisions on suggestions, or review them on a page (--serve).

    ACTION (add or remove) defaults to the current suggestion's; a tag may hold colons
    (`1407::d:add`, `12:re:zero`). Posts and tags are checked against the catalog (tags through
    aliases, case-insensitive). Decisions go to WORKSPACE/decisions.sqlite at once, even while a
    rebuild runs. Rejected ones are never suggested again; accepted ones change the labels the
    tagger trains on and are listed in out/tag_edits.csv. Rows written straight into
    out/review.sqlite's decisions table count too.

    --serve opens the review page: the queue in rank order with each picture, its tags and
    evidence; keys a accept, r reject, s skip, u undo, arrows move; bulk decisions per tag.
    """
    if serve:
        from .review import serve as serve_page

        serve_page(workspace, host, port, moderator, token, announce=click.echo)
        return
    from .suggest import review as record

    if not accept and not reject and decision_file is None:
        raise click.UsageError("give --accept and/or --reject POST_ID:TAG[:ACTION], or --file DECISIONS.csv")
    recorded, edits = record(workspace, list(accept), list(reject), moderator, note, decision_file)
    click.echo(f"{recorded} decisions recorded; accepted edits in {edits}")


@main.command()
@workspace_argument
@click.option("--top", type=click.IntRange(min=1), default=60, show_default=True, help="Suggestions shown with thumbnails.")
@click.option(
    "--truth",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A synthetic board's truth folder: also score the queue against its planted label noise.",
)
@writes_workspace
def report(workspace: Path, top: int, truth: Path | None) -> None:
    """The curator's report: out/report.html, one static page with every stage's results in pictures.

    Selection funnel, tag frequencies before and after selection, duplicate groups by kind with
    their contact sheets, splits with tag coverage and the leakage check, tagger metrics (a
    sortable per-tag table, the precision/recall trade-off, popular vs rare) and the top
    suggestions with thumbnails. Charts and thumbnails go to out/report_files/ beside it.
    """
    from .report import build_report

    result = build_report(workspace, top, truth)
    note = f"; not run yet: {', '.join(result.empty)}" if result.empty else ""
    click.echo(f"wrote {result.path} ({len(result.sections)} sections, {result.images} images{note})")


def _prefect_environment(workspace: Path) -> None:
    """Settings Prefect needs here (docs/operations.md), unless the user set them: its home in the
    workspace, no telemetry, a patient start for the temporary server."""
    os.environ.setdefault("PREFECT_HOME", str((Path(workspace) / "cache" / "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _stage_list(value: str | None) -> list[str]:
    from .pipeline import STAGE_NAMES

    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    unknown = [n for n in names if n not in STAGE_NAMES and n != "all"]
    if unknown:
        raise click.BadParameter(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGE_NAMES)}")
    return names


@main.command()
@workspace_argument
@click.option("--force", "force", default="", metavar="STAGE[,STAGE...]", help="Redo these stages even if unchanged ('all').")
@click.option("--only", "only", default="", metavar="STAGE[,STAGE...]", help="Run only these stages.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's results as JSON (for scripts), nothing else.")
@click.pass_context
def run(ctx: click.Context, workspace: Path, force: str, only: str, as_json: bool) -> None:
    """The whole rebuild through the Prefect flow; stages whose inputs are unchanged are skipped.

    Prints one line per stage as it ends (ran with its time and what changed, or skipped and
    why) and a closing summary. Uses the Prefect server in PREFECT_API_URL, or starts a
    temporary local one (offline, ~15-30 s); when no stage would run (nothing changed) and no
    server is configured, it says so without starting one. Prefect's and Dask's own logs go to
    WORKSPACE/cache/logs/run.log (and the Prefect UI); -v shows them here. A wrong input (config,
    sources, a locked workspace) fails at once, before Prefect starts, and is never retried.
    """
    from .pipeline import preflight
    from .runlog import closing_summary, stage_line

    forced, chosen = _stage_list(force), _stage_list(only)
    preflight(workspace, chosen or None)  # one line, in a moment, before Prefect starts
    unchanged = None if forced or os.environ.get("PREFECT_API_URL") else _nothing_to_do(workspace, chosen)
    if unchanged is not None:  # every stage would be skipped: no temporary Prefect server for that
        results, seconds, log_file = unchanged
        if not (as_json or ctx.obj["quiet"]):
            for index, result in enumerate(results, start=1):
                click.echo(stage_line(index, len(results), result))
    else:
        results, seconds, log_file = _rebuild(
            ctx, workspace, forced, chosen, stage_line if not (as_json or ctx.obj["quiet"]) else None
        )
    if as_json:
        click.echo(json.dumps({"workspace": str(workspace), "seconds": round(seconds, 2), "stages": results}, default=str))
    elif not ctx.obj["quiet"]:
        for line in closing_summary(results, seconds, workspace):
            click.echo(line)
        if log_file:
            click.echo(f"log: {log_file}")


def _nothing_to_do(workspace: Path, chosen: list[str]):
    """(results, seconds, None) when no stage would run, recorded in the run history as a
    rebuild of skipped stages; None when any stage must run (then the flow does everything)."""
    import time
    import uuid

    from .pipeline import nothing_to_do
    from .runlog import record_stage

    started = time.perf_counter()
    results = nothing_to_do(workspace, chosen or None)
    if results is None:
        return None
    run_id = f"unchanged-{uuid.uuid4().hex[:12]}"
    for result in results:
        record_stage(workspace, run_id, "cli", result)
    return results, time.perf_counter() - started, None


def _rebuild(ctx: click.Context, workspace: Path, forced: list[str], chosen: list[str], line=None):
    """Run the rebuild flow in this process; (results, seconds, log file or None with -v).
    ``line(index, total, result)``: the text printed as each stage ends (None: print nothing)."""
    import time

    from .logs import route_library_logs

    _prefect_environment(workspace)
    log_file = None if ctx.obj["verbose"] else route_library_logs(workspace)
    import flows.rebuild as flow

    if line is not None:
        flow.on_stage_done = lambda index, total, result: click.echo(line(index, total, result))
    started = time.perf_counter()
    try:
        results = flow.rebuild(workspace=str(workspace), force=forced, only=chosen or None)
    finally:
        flow.on_stage_done = None
    return results, time.perf_counter() - started, log_file


@main.command()
@workspace_argument
@click.option("--cron", help='A cron schedule, e.g. "0 3 * * 1" (Mondays 03:00).')
@click.option("--interval", type=click.IntRange(min=1), help="Or every this many seconds.")
@click.option("--only", "only", default="", metavar="STAGE[,STAGE...]", help="Scheduled runs do only these stages.")
@click.option("--name", help="Deployment name (default rebuild-<dataset>).")
def serve(workspace: Path, cron: str | None, interval: int | None, only: str, name: str | None) -> None:
    """Serve the rebuild as a scheduled Prefect deployment until stopped (Ctrl-C or SIGTERM).

    Needs a running Prefect server: `prefect server start --host 127.0.0.1 --port 4200` and
    PREFECT_API_URL=http://127.0.0.1:4200/api (schedules do not fire on a temporary server).
    """
    from .config import load_config

    if (cron is None) == (interval is None):
        raise click.UsageError("give exactly one of --cron or --interval")
    if not os.environ.get("PREFECT_API_URL"):
        raise CurationError(
            "PREFECT_API_URL is not set: start a server (`prefect server start --host 127.0.0.1 "
            "--port 4200`) and export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    config = load_config(workspace)
    chosen = _stage_list(only)
    _prefect_environment(workspace)
    from flows.rebuild import rebuild

    deployment = name or f"rebuild-{config.dataset}"
    click.echo(
        f"serving {deployment} ({'cron ' + cron if cron else f'every {interval}s'}) against "
        f"{os.environ['PREFECT_API_URL']}; stop with Ctrl-C"
    )
    # limit=1: one rebuild of a workspace at a time (its catalog has one writer); a run that
    # falls due while another is still going waits for it instead of fighting for the lock
    rebuild.serve(
        name=deployment,
        cron=cron,
        interval=interval,
        limit=1,
        parameters={"workspace": str(Path(workspace).resolve()), "only": chosen or None},
    )


@main.command()
@workspace_argument
@click.option("--last", type=click.IntRange(min=1), default=5, show_default=True, help="How many rebuilds.")
@click.option("--json", "as_json", is_flag=True, help="The runs as JSON.")
def runs(workspace: Path, last: int, as_json: bool) -> None:
    """The last rebuilds, newest first: when, what started them, each stage ran or skipped and
    why, how long, what it changed, and any failure."""
    from .runlog import recent_runs

    found = recent_runs(workspace, last)
    if as_json:
        click.echo(json.dumps(found, default=str, indent=1))
        return
    if not found:
        click.echo(f"{workspace}: no rebuild recorded yet (`curate run {workspace}` records one)")
        return
    for run in found:
        failed = [s for s in run["stages"] if s["outcome"] != "ok"]
        state = f"FAILED at {failed[0]['stage']}" if failed else "ok"
        ran = sum(s["ran"] for s in run["stages"] if s["outcome"] == "ok")
        click.echo(
            f"{run['finished']:%Y-%m-%d %H:%M:%S} UTC  {run['trigger']:<8} {state:<18} {ran} ran, "
            f"{run['seconds']:.1f} s  (run {run['run_id']})"
        )
        for s in run["stages"]:
            what = s["outcome"] if s["outcome"] != "ok" else (s["changed"] if s["ran"] else s["reason"])
            click.echo(f"    {s['stage']:<8} {'ran' if s['ran'] else 'skipped':<8} {s['seconds'] or 0:6.1f} s  {what}")


@main.command()
@click.argument("workspace", required=False, type=click.Path(file_okay=False, path_type=Path))
def doctor(workspace: Path | None) -> None:
    """Check this machine (and WORKSPACE, if given) before a first run or after a failure.

    One line a check, ok / warn / fail: Python and package versions, the embedder's weights
    (or where to put them), GPU and faiss GPU, the config and its sources, disk space against
    what the next rebuild needs, and the Prefect server (or whether a temporary one can start).
    Exit 1 when a check fails.
    """
    from .doctor import run_checks

    checks = run_checks(workspace)
    for check in checks:
        click.echo(f"{check.status:<5} {check.name:<9} {check.detail}")
    if any(c.status == "fail" for c in checks):
        raise click.exceptions.Exit(1)


@main.command("export-edits")
@workspace_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["danbooru", "e621", "bur", "csv"]),
    required=True,
    help="danbooru: post updates (JSON lines); e621: tag_string_diff updates; bur: bulk update request lines; csv.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: standard output).")
@click.option("--since", help="Only decisions made after this time (default: after the last export of this format).")
@click.option("--dry-run", is_flag=True, help="Do not record this export (the next one repeats it).")
def export_edits_cmd(workspace: Path, fmt: str, out: Path | None, since: str | None, dry_run: bool) -> None:
    """The accepted decisions as the board's own edits: tags as canonical today, of an
    implication chain only the most specific tag. Each export is recorded; the next one of the
    same format holds only decisions made after it."""
    from .edits import export_edits

    report = export_edits(workspace, fmt, since=since, out=out, record=not dry_run)
    if out is None:
        click.echo(report.text, nl=False)
    else:
        click.echo(
            f"wrote {out}: {report.decisions} decisions on {report.posts} posts"
            + (f" made after {report.since}" if report.since else ""),
            err=False,
        )


@main.command("export-sqlite")
@workspace_argument
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def export_sqlite(workspace: Path, out: Path, overwrite: bool) -> None:
    """Write the selection to OUT, a SQLite database in the Danbooru2019 layout.

    Tables images (the selected posts), tags (the label tags) and imageTags (their pairs);
    `curate ingest` reads such a database back as a danbooru_sqlite source.
    """
    from .export import export_sqlite as run_export

    counts = run_export(workspace, out, overwrite=overwrite)
    click.echo(f"wrote {out}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@main.command()
@workspace_argument
def config(workspace: Path) -> None:
    """Validate WORKSPACE/curate.toml and print it with every default filled in."""
    from .config import load_config

    cfg = load_config(workspace)
    click.echo(json.dumps(cfg.model_dump(mode="json"), indent=2))


@main.group()
def evaluate() -> None:
    """Score a workspace against a synthetic board's ground truth (OUT/truth/)."""


@evaluate.command("ingest")
@workspace_argument
@truth_option
def evaluate_ingest_cmd(workspace: Path, truth_dir: Path) -> None:
    """How faithfully the catalog holds the board: posts, canonical tags, rejected rows."""
    from .evaluate import evaluate_ingest

    s = evaluate_ingest(workspace, truth_dir)
    click.echo(f"posts found: {s.posts_found}/{s.posts_expected}")
    click.echo(f"posts whose canonical tags match the dump's truth: {s.tags_exact}/{s.posts_expected}")
    click.echo(
        f"planted rows without id rejected: {s.quirk_rows_rejected}/{s.quirk_rows_expected}; other rejects: {s.other_rejects}"
    )
    click.echo("ingest matches the ground truth" if s.ok else "ingest differs from the ground truth")


@evaluate.command("images")
@workspace_argument
@truth_option
def evaluate_images_cmd(workspace: Path, truth_dir: Path) -> None:
    """Whether every planted bad file got the status the truth expects."""
    from .evaluate import evaluate_images

    s = evaluate_images(workspace, truth_dir)
    click.echo(f"planted bad files with the expected status: {s.bad_files_right}/{s.bad_files}")
    for post_id, problem, expected, got in s.wrong:
        click.echo(f"  post {post_id} ({problem}): expected {expected}, got {got}")


@evaluate.command("dedupe")
@workspace_argument
@truth_option
@click.option("--compare", is_flag=True, help="Score hashes only, embeddings only and both side by side.")
def evaluate_dedupe_cmd(workspace: Path, truth_dir: Path, compare: bool) -> None:
    """Pairwise precision, recall and F1 of the duplicate groups per planted kind, and how many
    planted look-alikes (boards made with `curate synth --reposts all`) were wrongly grouped."""
    from rich.table import Table

    from .evaluate import evaluate_dedupe
    from .evaluate.dedupe import edge_calibration, evaluate_hard_negatives

    if compare:
        runs = {signals: evaluate_dedupe(workspace, truth_dir, signals) for signals in ("hashes", "embeddings", "both")}
        table = Table(title=f"dedupe {workspace} vs {truth_dir}: recall / precision by signal")
        table.add_column("kind")
        table.add_column("truth pairs", justify="right")
        for signals in runs:
            table.add_column(signals, justify="right")
        for row in zip(*runs.values()):
            table.add_row(row[0].kind, str(row[0].truth_pairs), *(f"{s.recall:.3f} / {s.precision:.3f}" for s in row))
        _console().print(table)
        return
    table = Table(title=f"dedupe {workspace} vs {truth_dir}")
    for col in ("kind", "truth pairs", "found", "recall", "predicted pairs", "precision", "F1"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for s in evaluate_dedupe(workspace, truth_dir):
        table.add_row(
            s.kind,
            str(s.truth_pairs),
            str(s.found),
            f"{s.recall:.3f}",
            str(s.predicted_pairs),
            f"{s.precision:.3f}",
            f"{s.f1:.3f}",
        )
    _console().print(table)
    negatives = evaluate_hard_negatives(workspace, truth_dir)
    if negatives:
        table = Table(title="hard negatives: other pictures made to look alike (each one grouped is a wrong pair)")
        for col in ("look-alike", "pairs", "grouped"):
            table.add_column(col, justify="left" if col == "look-alike" else "right")
        for n in negatives:
            table.add_row(n.kind, str(n.pairs), str(n.grouped))
        _console().print(table)
    table = Table(title="edges by kind: the share the truth confirms beside the precision_estimate dedupe gave them")
    for col in ("edge kind", "edges", "right", "precision", "estimated"):
        table.add_column(col, justify="left" if col == "edge kind" else "right")
    for e in edge_calibration(workspace, truth_dir):
        table.add_row(e.kind, str(e.edges), str(e.right), f"{e.precision:.3f}", f"{e.estimate:.3f}")
    _console().print(table)


@evaluate.command("suggest")
@workspace_argument
@truth_option
def evaluate_suggest_cmd(workspace: Path, truth_dir: Path) -> None:
    """Suggestions against the planted label noise: precision@k, recall and AP, by frequency band."""
    from rich.table import Table

    from .evaluate.suggest import evaluate_suggestions, plain_ranking_ap

    table = Table(title=f"suggestions {workspace} vs {truth_dir}")
    for col in ("action", "tags", "planted", "suggested", "found", "recall", "P@10", "P@100", "AP"):
        table.add_column(col, justify="left" if col in ("action", "tags") else "right")
    scores = evaluate_suggestions(workspace, truth_dir)
    for s in scores:
        table.add_row(
            s.action,
            s.band,
            str(s.planted),
            str(s.suggested),
            str(s.found),
            f"{s.recall:.3f}",
            f"{s.precision_at[10]:.2f}",
            f"{s.precision_at[100]:.2f}",
            f"{s.average_precision:.3f}",
        )
    _console().print(table)
    ceiling = plain_ranking_ap(workspace, truth_dir)
    queue = {s.action: s.average_precision for s in scores if s.band == "all"}
    for action in ("add", "remove"):
        click.echo(
            f"{action}: queue AP {queue[action]:.3f}; the tagger's plain ranking of the same pairs: AP {ceiling[action]:.3f} "
            f"(the queue keeps {queue[action] / ceiling[action]:.0%} of it"
            + ("; its calibration ranks removals better than 1 - p does)" if queue[action] > ceiling[action] else ")")
            if ceiling[action] == ceiling[action] and ceiling[action] > 0
            else f"{action}: nothing planted in the suggestion scope"
        )


@evaluate.command("tagger")
@workspace_argument
@click.option("--tagger", "taggers", multiple=True, help="Tagger(s) to score (default: all registered); repeat to compare.")
@click.option("--split", "split_name", type=click.Choice(["train", "val", "test"]), help="Only the posts of this split.")
@click.option("--per-tag", type=click.Path(dir_okay=False, path_type=Path), help="Write the per-tag table(s) to this CSV.")
@click.option(
    "--save",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save the post ids, tags and each tagger's predictions used, to reproduce the comparison.",
)
def evaluate_tagger_cmd(
    workspace: Path, taggers: tuple[str, ...], split_name: str | None, per_tag: Path | None, save: Path | None
) -> None:
    """Precision, recall, F1, AP per tag and overall; P=R threshold with F1/F2/MCC; informedness.

    With several taggers: only posts all of them predicted and tags all of them know that at
    least [tagger] min_posts of those posts carry, plus an ensemble averaging them.
    """
    import polars as pl
    from rich.table import Table

    from .tagger.evaluate import evaluate_taggers

    scores = evaluate_taggers(workspace, list(taggers) or None, split_name, save)
    first = scores[0].overall
    table = Table(
        title=f"taggers on {first.posts} posts x {first.tags} tags"
        + (f" ({split_name})" if split_name else "")
        + f", threshold {first.threshold}"
    )
    for col in (
        "tagger",
        "slice",
        "tags",
        "macro AP",
        "macro F1",
        "micro F1",
        "P=R thr",
        "F1@P=R",
        "F2@P=R",
        "MCC@P=R",
        "inform. .2/.3/.5",
    ):
        table.add_column(col, justify="left" if col in ("tagger", "slice") else "right")
    for s in scores:
        for label, m in [("all", s.overall)] + list(s.slices.items()):
            table.add_row(
                s.name,
                label,
                str(m.tags),
                f"{m.macro_ap:.3f}",
                f"{m.macro_f1:.3f}",
                f"{m.micro_f1:.3f}",
                f"{m.pr_threshold:.3f}",
                f"{m.f1_at_pr:.3f}",
                f"{m.f2_at_pr:.3f}",
                f"{m.mcc_at_pr:.3f}",
                "/".join(f"{v:.2f}" for v in m.informedness.values()),
            )
    console = _console()
    console.print(table)
    for s in scores:
        if s.rating_accuracy is not None:
            rows = "; ".join(f"{r}: " + " ".join(str(int(n)) for n in row) for r, row in zip("gsqe", s.rating_confusion))
            console.print(f"{s.name} rating accuracy {s.rating_accuracy:.3f} (confusion, rows true g s q e: {rows})")
    if per_tag:
        pl.concat([s.per_tag.with_columns(pl.lit(s.name).alias("tagger")) for s in scores]).write_csv(per_tag)
        console.print(f"per-tag table: {per_tag}")
    if save:
        console.print(f"predictions and post ids used: {save}")


@main.command()
@click.argument("out", required=False, default="curate-demo", type=click.Path(file_okay=False, path_type=Path))
@click.option("--posts", "-n", type=click.IntRange(min=20), default=300, show_default=True, help="Posts on the demo board.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.pass_context
def demo(ctx: click.Context, out: Path, posts: int, seed: int) -> None:
    """Synthesise a board in OUT and rebuild it through the Prefect flow, offline, scored against its truth.

    Every stage runs (ingest, select, images, embed, dedupe, split, train, suggest, report) on a
    temporary local Prefect server; the command prints where each result is and how it
    compares with the board's ground truth.
    """
    from .evaluate import evaluate_dedupe, evaluate_images, evaluate_ingest
    from .evaluate.suggest import evaluate_suggestions, plain_ranking_ap
    from .report import build_report
    from .split import check_split
    from .synth import generate_board
    from .tagger import OUR_TAGGER
    from .tagger.evaluate import evaluate_taggers
    from .workspace import init_workspace

    board = out / "board"
    manifest = generate_board(board, posts, seed=seed, fmt="danbooru2021", image_size=256, images=True, overwrite=True)
    _print_board_summary(board, manifest)
    workspace = out / "workspace"
    if (workspace / "catalog.duckdb").exists():
        (workspace / "catalog.duckdb").unlink()  # the demo starts over each time
    config_path, detected = init_workspace(workspace, [board], overwrite=True)
    text = config_path.read_text()
    config_path.write_text(text.replace("[select]\n", "[select]\nmin_tag_count = 5  # the demo: label tags with 5+ posts\n"))
    click.echo(f"workspace: {workspace} (config {config_path}, {len(detected)} sources detected)")
    click.echo("rebuilding through the Prefect flow (a temporary local server starts first) ...")
    from .runlog import stage_line

    results, _, log_file = _rebuild(ctx, workspace, [], [], stage_line)
    done = {r["stage"]: r["summary"] for r in results}
    truth = board / "truth"
    ingested, selected, images = done["ingest"], done["select"], done["images"]
    click.echo(f"ingest: {ingested['posts']} posts, {ingested['tags']} tags, {ingested['rejects']} rejected rows")
    score = evaluate_ingest(workspace, truth)
    click.echo(
        f"  vs truth: {score.posts_found}/{score.posts_expected} posts, canonical tags exact on "
        f"{score.tags_exact}/{score.posts_expected}, {score.quirk_rows_rejected}/{score.quirk_rows_expected} "
        f"planted bad rows rejected"
    )
    click.echo(f"select: {selected['posts']} posts, {selected['tags']} label tags")
    click.echo("images: " + ", ".join(f"{n} {s}" for s, n in sorted(images["statuses"].items(), key=lambda kv: -kv[1])))
    checked = evaluate_images(workspace, truth)
    click.echo(f"  vs truth: {checked.bad_files_right}/{checked.bad_files} planted bad files got the expected status")
    click.echo(f"embed: {done['embed']['embedded']} files with {done['embed']['embedder']}")
    click.echo(
        f"dedupe: {done['dedupe']['groups']} duplicate groups holding {done['dedupe']['grouped_posts']} posts "
        f"({workspace / 'out' / 'duplicates.parquet'})"
    )
    overall = next(s for s in evaluate_dedupe(workspace, truth) if s.kind == "all")
    click.echo(
        f"  vs truth: pairwise precision {overall.precision:.2f}, recall {overall.recall:.2f} over "
        f"{overall.truth_pairs} planted pairs (per kind: `curate evaluate dedupe --compare`)"
    )
    splits = done["split"]
    click.echo(
        "split: "
        + ", ".join(f"{n} {s}" for s, n in splits["posts"].items())
        + f"; {splits['leakage']['crossing_groups']} duplicate groups and {splits['leakage']['crossing_families']} "
        f"families cross splits; manifests in {workspace / 'out' / 'splits'}"
    )
    _, plain = check_split(workspace, "plain-id-mod-1000")
    if len(plain.posts) > 1:
        click.echo(
            f"  the plain post_id % 1000 scheme would split {plain.crossing_groups} of {plain.groups} duplicate "
            f"groups and {plain.crossing_families} of {plain.families} families (`curate split --check`)"
        )
    [heads] = evaluate_taggers(workspace, [OUR_TAGGER])
    click.echo(
        f"train: {done['train']['folds']}-fold heads, out-of-fold probabilities for {done['train']['posts']} posts x "
        f"{done['train']['tags']} tags; macro AP {heads.overall.macro_ap:.3f}, micro F1 at P=R "
        f"{heads.overall.f1_at_pr:.3f} (`curate evaluate tagger`)"
    )
    suggested = done["suggest"]
    click.echo(
        f"suggest: {suggested['adds']} add and {suggested['removes']} remove suggestions in "
        f"{workspace / 'out' / 'suggestions.json'} (review: {workspace / 'out' / 'review.sqlite'})"
    )
    by_action = {x.action: x for x in evaluate_suggestions(workspace, truth) if x.band == "all"}
    ceiling = plain_ranking_ap(workspace, truth)
    click.echo(
        "  vs planted label noise: "
        + "; ".join(
            f"{a} precision@10 {x.precision_at[10]:.2f}, recall {x.recall:.2f}, AP {x.average_precision:.2f} "
            f"(the tagger's plain ranking: {ceiling[a]:.2f})"
            for a, x in by_action.items()
        )
    )
    build_report(workspace, truth=truth)  # again, with the queue scored against the board's truth
    click.echo(f"report: {workspace / 'out' / 'report.html'} (open it in a browser)")
    click.echo(
        f"catalog: {workspace / 'catalog.duckdb'}; ground truth: {truth}; run again with "
        f"`curate run {workspace}` (unchanged stages are skipped)"
    )
    if log_file:
        click.echo(f"Prefect's log: {log_file}")


if __name__ == "__main__":  # python -m curation.cli
    main()
