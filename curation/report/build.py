"""``curate report``: ``out/report.html``, one static page over every stage's results.

Charts (PNG) and thumbnails go to ``out/report_files/`` beside the page, contact sheets are the
ones in ``out/duplicates/``; all links are relative, so the ``out`` folder can be copied and
opened offline. A stage that has not run yet gets its section with a note saying so.

The page is written aside and renamed over the old one, and each build's charts carry the
build's stamp in their names (``funnel-<stamp>.png``): a build killed half way leaves the
previous page whole and showing its own charts. Charts no page links to are removed after.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from ..catalog import open_catalog
from ..config import load_config
from ..context import Where, stage_context
from . import plots

log = logging.getLogger(__name__)
SECTIONS = ("since", "funnel", "tags", "duplicates", "splits", "tagger", "suggestions")
THUMB = 128


@dataclass
class ReportResult:
    path: Path
    sections: list[str] = field(default_factory=list)  # sections with content
    empty: list[str] = field(default_factory=list)  # sections whose stage has not run
    images: int = 0


def _esc(value) -> str:
    return html.escape(str(value))


def _img(src: str, alt: str, width: int | None = None) -> str:
    size = f' width="{width}"' if width else ""
    return f'<img src="{_esc(src)}" alt="{_esc(alt)}"{size} loading="eager">'


def _table(columns: list[str], rows: list[list], sortable: bool = False, table_id: str = "") -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(f'{v:.3f}' if isinstance(v, float) else v)}</td>" for v in r) + "</tr>" for r in rows
    )
    attrs = (' class="sortable"' if sortable else "") + (f' id="{table_id}"' if table_id else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _thumbnail(source: str | None, target: Path) -> bool:
    if not source:
        return False
    try:
        with Image.open(source) as img:
            img.draft("RGB", (THUMB, THUMB))
            img.seek(0)
            picture = img.convert("RGB")
            picture.thumbnail((THUMB, THUMB))
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            picture.save(partial, "JPEG", quality=85)
            os.replace(partial, target)  # never a cut thumbnail under a post's name
        return True
    except Exception as exc:  # an unreadable file gets a text placeholder, never a broken image
        log.warning("no thumbnail for %s: %s", source, exc)
        return False


class _Page:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.files = out / "report_files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        self.parts: list[str] = []
        self.result = ReportResult(out / "report.html")

    def section(self, key: str, title: str, body: str | None, missing: str = "") -> None:
        if body is None:
            self.result.empty.append(key)
            body = f'<p class="missing">Not available yet: {_esc(missing)}</p>'
        else:
            self.result.sections.append(key)
        self.parts.append(f'<section id="{key}"><h2>{_esc(title)}</h2>{body}</section>')

    def chart(self, name: str) -> Path:
        self.result.images += 1
        return self.files / f"{name}-{self.stamp}.png"

    def publish(self, document: str) -> None:
        """The page renamed over the old one, then every chart of other builds removed."""
        partial = self.result.path.with_name(self.result.path.name + ".partial")
        partial.write_text(document, encoding="utf-8")
        os.replace(partial, self.result.path)
        for stale in self.files.glob("*.png"):
            if not stale.name.endswith(f"-{self.stamp}.png"):
                stale.unlink(missing_ok=True)


def build_report(workspace: Where, top_suggestions: int = 60, truth: Path | None = None) -> ReportResult:
    """``out/report.html``. With ``truth`` (a synthetic board's truth folder) the suggestions section
    also scores the queue against the planted label noise, beside the tagger's plain ranking."""
    ctx = stage_context(workspace)
    workspace, config = ctx.workspace, ctx.config
    out = workspace / "out"
    page = _Page(out)
    with open_catalog(workspace, read_only=True) as cat:
        _since(page, cat, workspace)
        _funnel(page, cat)
        _tags(page, cat)
        _duplicates(page, cat, out)
        _splits(page, cat, workspace)
        _tagger(page, cat, workspace, config.tagger.threshold)
        _suggestions(page, cat, top_suggestions, _queue_against_truth(workspace, truth) if truth else "")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = " · ".join(f'<a href="#{k}">{k}</a>' for k in SECTIONS)
    document = TEMPLATE.format(
        title=_esc(f"booru-curate report: {config.dataset}"), generated=generated, nav=nav, body="\n".join(page.parts)
    )
    page.publish(document)
    return page.result


def _since(page: _Page, cat, workspace: Path) -> None:
    """What the last run of each stage changed: posts, duplicate groups, suggestions; and the
    last rebuild's stages, ran or skipped."""
    from ..runlog import recent_runs

    recorded = {
        stage: {"finished_at": finished, "summary": json.loads(summary or "{}")}
        for stage, finished, summary in (
            cat.rows("SELECT stage, finished_at, summary FROM stage_runs") if cat.has_table("stage_runs") else []
        )
    }
    if not recorded:
        return page.section("since", "Since the last rebuild", None, "run `curate run`")
    rows = []
    if "ingest" in recorded:
        sources = [x for x in recorded["ingest"]["summary"].get("sources", []) if isinstance(x, dict)]
        new, changed, removed = (sum(int(x.get(k) or 0) for x in sources) for k in ("new", "changed", "removed"))
        rows.append(["posts", f"+{new:,} new, {changed:,} changed, {removed:,} removed", recorded["ingest"]["finished_at"]])
    dedupe = (recorded.get("dedupe") or {}).get("summary", {}).get("since_last")
    if dedupe:
        rows.append(
            [
                "duplicate groups",
                f"+{dedupe['new_groups']:,} new, {dedupe['gone_groups']:,} gone",
                recorded["dedupe"]["finished_at"],
            ]
        )
    suggest = (recorded.get("suggest") or {}).get("summary", {}).get("since_last")
    if suggest:
        rows.append(
            ["suggestions", f"+{suggest['added']:,} added, {suggest['resolved']:,} resolved by moderators, "
             f"{suggest['withdrawn']:,} withdrawn", recorded["suggest"]["finished_at"]]
        )  # fmt: skip
    body = _table(["what", "changed", "when (UTC)"], rows) if rows else "<p>No stage has reported changes yet.</p>"
    last = recent_runs(workspace, 1)
    if last:
        ran = [x["stage"] for x in last[0]["stages"] if x["ran"]]
        body += (
            f"<p>Last rebuild ({_esc(last[0]['trigger'])}, finished {_esc(str(last[0]['finished'])[:19])} UTC): "
            + (f"ran {_esc(', '.join(ran))}" if ran else "nothing to do, every stage unchanged")
            + ". Every rebuild: <code>curate runs WORKSPACE</code>.</p>"
        )
    page.section("since", "Since the last rebuild", body)


def _funnel(page: _Page, cat) -> None:
    if not cat.has_table("select_audit"):
        return page.section("funnel", "Selection funnel", None, "run `curate select`")
    audit = cat.rows("SELECT step, posts_before, posts_after FROM select_audit")
    steps = [audit[0][0]] + [a[0] for a in audit[1:]]
    posts = [audit[0][2]] + [a[2] for a in audit[1:]]
    chart = plots.funnel(steps, posts, page.chart("funnel"))
    rows = [[s, b, a, b - a] for s, b, a in audit]
    page.section(
        "funnel",
        "Selection funnel",
        _img(f"report_files/{chart.name}", "selection funnel") + _table(["step", "posts before", "posts after", "dropped"], rows),
    )


def _tags(page: _Page, cat) -> None:
    if not cat.has_table("selected_tags"):
        return page.section("tags", "Tag frequencies", None, "run `curate select`")
    before = np.array([r[0] for r in cat.rows("SELECT coalesce(post_count, 0) FROM tags")], dtype=float)
    after = np.array([r[0] for r in cat.rows("SELECT count FROM selected_tags")], dtype=float)
    chart = plots.tag_frequencies(before, after, page.chart("tag_frequencies"))
    top = cat.rows("SELECT name, category, count FROM selected_tags ORDER BY count DESC, name LIMIT 20")
    page.section(
        "tags",
        "Tag frequencies (log-log), before and after selection",
        _img(f"report_files/{chart.name}", "tag frequency distributions")
        + "<h3>Most frequent label tags</h3>"
        + _table(["tag", "category", "posts"], [list(r) for r in top]),
    )


def _duplicates(page: _Page, cat, out: Path) -> None:
    if not cat.scalar("SELECT count(*) FROM dup_edges"):
        return page.section("duplicates", "Duplicates", None, "run `curate embed` and `curate dedupe`")
    kinds = cat.rows("SELECT kind, count(*) FROM dup_edges GROUP BY kind ORDER BY 2 DESC")
    chart = plots.bars([k for k, _ in kinds], [n for _, n in kinds], page.chart("duplicate_kinds"), "edges")
    groups = cat.rows("SELECT count(DISTINCT group_id), count(*) FROM dup_groups")[0]
    sheets = sorted((out / "duplicates").glob("group_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    members = dict(
        cat.rows(
            "SELECT group_id, list(DISTINCT e.kind ORDER BY e.kind) FROM dup_groups g "
            "JOIN dup_edges e ON e.post_a = g.post_id OR e.post_b = g.post_id GROUP BY group_id"
        )
    )
    by_kind: dict[str, list[str]] = {}
    for sheet in sheets:
        gid = int(sheet.stem.split("_")[1])
        kind = ", ".join(members.get(gid, ["?"]))
        by_kind.setdefault(kind, []).append(
            f"<figure>{_img(f'duplicates/{sheet.name}', f'group {gid}')}<figcaption>group {gid}</figcaption></figure>"
        )
    gallery = "".join(f"<h3>{_esc(kind)}</h3>" + "".join(figs) for kind, figs in sorted(by_kind.items()))
    kind_sheets = sorted((out / "duplicates").glob("kind_*.png"))
    if kind_sheets:
        gallery += (
            "<h3>Each kind at its threshold</h3><p>Per edge kind, the weakest pairs dedupe joined (each with "
            "its precision estimate) above the closest pairs it refused, to judge the threshold by eye.</p>"
            + "".join(
                f"<figure>{_img(f'duplicates/{s.name}', s.stem.removeprefix('kind_'))}"
                f"<figcaption>{_esc(s.stem.removeprefix('kind_'))}</figcaption></figure>"
                for s in kind_sheets
            )
        )
    page.result.images += len(sheets) + len(kind_sheets)
    page.section(
        "duplicates",
        "Duplicates by kind",
        f"<p>{groups[0]:,} groups holding {groups[1]:,} posts.</p>"
        + _img(f"report_files/{chart.name}", "duplicate edges by kind")
        + _table(["kind", "edges"], [list(k) for k in kinds])
        + gallery,
    )


def _splits(page: _Page, cat, workspace: Path) -> None:
    stats_file = workspace / "out" / "splits" / "tag_stats.parquet"
    if not cat.has_table("splits") or not stats_file.exists():
        return page.section("splits", "Splits", None, "run `curate split`")
    from ..split import check_split

    sizes = cat.rows("SELECT split, count(*) FROM splits GROUP BY split ORDER BY split")
    stats = pl.read_parquet(stats_file)
    min_posts = load_config(workspace).split.min_tag_posts
    stratified = stats.filter(pl.col("count") >= min_posts)
    coverage = {s: float((stratified[s] > 0).mean()) if stratified.height else 0.0 for s in ("train", "val", "test")}
    chart = plots.grouped_bars(
        ["posts", "tag coverage"],
        {s: [dict(sizes).get(s, 0) / max(sum(n for _, n in sizes), 1), coverage[s]] for s in ("train", "val", "test")},
        page.chart("splits"),
        "share",
    )
    _, ours = check_split(workspace)
    _, plain = check_split(workspace, "plain-id-mod-1000")
    leak_rows = [
        ["this split", ours.crossing_groups, ours.crossing_families, ours.leaked_posts],
        ["plain post_id % 1000", plain.crossing_groups, plain.crossing_families, plain.leaked_posts],
    ]
    page.section(
        "splits",
        "Splits, tag coverage and leakage",
        _table(["split", "posts"], [list(r) for r in sizes])
        + _img(f"report_files/{chart.name}", "split sizes and tag coverage")
        + f"<p>Tag coverage: share of the {stratified.height:,} tags with at least {min_posts} posts present "
        "in each split.</p>"
        + "<h3>Leakage check</h3>"
        + _table(
            ["assignment", "duplicate groups crossing", "families crossing", "held-out posts with a copy in train"], leak_rows
        ),
    )


def _tagger(page: _Page, cat, workspace: Path, threshold: float) -> None:
    names = [r[0] for r in cat.rows("SELECT name FROM taggers ORDER BY made_at")]
    if not names:
        return page.section("tagger", "Tagger", None, "run `curate train`")
    from ..tagger.evaluate import evaluate_taggers

    score = evaluate_taggers(workspace, [names[0]])[0]
    o = score.overall
    chart = plots.precision_recall(score.curve, threshold, o.pr_threshold, page.chart("precision_recall"))
    slices = [["all", o.tags, o.macro_ap, o.f1_at_pr, o.mcc_at_pr]] + [
        [k, v.tags, v.macro_ap, v.f1_at_pr, v.mcc_at_pr] for k, v in score.slices.items()
    ]
    per_tag = score.per_tag.sort("idx").select("name", "category", "positives", "precision", "recall", "f1", "ap")
    rows = [
        [r[0], r[1], int(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[6]) if r[6] == r[6] else float("nan")]
        for r in per_tag.iter_rows()
    ]
    page.section(
        "tagger",
        f"Tagger: {score.name}",
        f"<p>{o.posts:,} posts x {o.tags:,} tags; micro F1 at the threshold {threshold}: {o.micro_f1:.3f}; "
        f"precision = recall at {o.pr_threshold:.3f}, F1 there {o.f1_at_pr:.3f}.</p>"
        + _img(f"report_files/{chart.name}", "precision and recall against the threshold")
        + "<h3>Popular vs rare, by category</h3>"
        + _table(["slice", "tags", "macro AP", "F1 at P=R", "MCC at P=R"], slices)
        + "<h3>Per tag (click a column to sort)</h3>"
        + _table(["tag", "category", "positives", "precision", "recall", "F1", "AP"], rows, sortable=True, table_id="per-tag"),
    )


def _queue_against_truth(workspace: Path, truth: Path) -> str:
    from ..evaluate.suggest import evaluate_suggestions, plain_ranking_ap

    ceiling = plain_ranking_ap(workspace, truth)
    rows = [
        [s.action, s.planted, s.suggested, f"{s.recall:.3f}", f"{s.precision_at[100]:.2f}", f"{s.average_precision:.3f}",
         f"{ceiling[s.action]:.3f}"]
        for s in evaluate_suggestions(workspace, truth)
        if s.band == "all"
    ]  # fmt: skip
    return (
        f"<p>Against the planted label noise of {_esc(str(truth))}: the queue, and the tagger's plain ranking "
        "(every unlabelled pair by p for add, every labelled pair by 1 - p for remove): what the queue keeps "
        "of what the tagger knows. Removals can rank above it: their calibration reads each tag's curve, "
        "not 1 - p alone.</p>"
        + _table(["action", "planted", "suggested", "recall", "P@100", "queue AP", "tagger's plain-ranking AP"], rows)
    )


def _suggestions(page: _Page, cat, top: int, scored: str = "") -> None:
    if not cat.has_table("suggestions") or not cat.scalar("SELECT count(*) FROM suggestions"):
        return page.section("suggestions", "Suggestions", None, "run `curate suggest`")
    rows = cat.rows(
        """
        SELECT s.rank, s.post_id, s.tag, s.action, s.precision_estimate, s.label_quality, i.path,
               (SELECT string_agg(t.name, ' ' ORDER BY t.name) FROM post_tags pt JOIN tags t USING (tag_id)
                WHERE pt.post_id = s.post_id) AS tags
        FROM suggestions s LEFT JOIN images i USING (post_id)
        ORDER BY s.rank LIMIT ?""",
        [top],
    )
    by_tag: dict[tuple[str, str], list[str]] = {}
    for rank, post, tag, action, precision, quality, path, tags in rows:
        thumb = page.files / "thumbs" / f"{post}.jpg"
        picture = (
            _img(f"report_files/thumbs/{post}.jpg", f"post {post}", THUMB)
            if (thumb.exists() or _thumbnail(path, thumb))
            else f'<div class="nothumb">post {post}: no image</div>'
        )
        if thumb.exists():
            page.result.images += 1
        by_tag.setdefault((tag, action), []).append(
            f'<div class="card">{picture}<div><b>#{rank}</b> post {post}: {action} <code>{_esc(tag)}</code> '
            f"(precision estimate {precision:.2f}, label quality {quality:.2f})</div>"
            f"<div class='tags'>{_esc(tags or '')}</div></div>"
        )
    body = "".join(
        f"<h3>{_esc(action)} <code>{_esc(tag)}</code></h3><div class='cards'>{''.join(cards)}</div>"
        for (tag, action), cards in sorted(by_tag.items(), key=lambda kv: kv[0])
    )
    total = cat.scalar("SELECT count(*) FROM suggestions")
    expected = cat.rows(
        "SELECT action, count(*), sum(precision_estimate), sum(precision_estimate) FILTER (WHERE rank <= 100) "
        "FROM suggestions GROUP BY action ORDER BY action"
    )
    outlook = "; ".join(
        f"{a}: {n:,} suggested, about {right:,.0f} of them right by their estimates" for a, n, right, _ in expected
    )
    page.section(
        "suggestions",
        "Top suggestions",
        f"<p>{_esc(outlook)}.</p>" + scored + f"<p>The top {len(rows)} of {total:,} (all in out/suggestions.json "
        "and out/review.sqlite), grouped by tag, beside each post's current tags.</p>" + body,
    )


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
section {{ border-top: 1px solid #ddd; padding: 0.5em 0 1.5em; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ddd; padding: 2px 6px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
table.sortable th {{ cursor: pointer; background: #f4f4f4; }}
figure {{ display: inline-block; margin: 4px; }} figcaption {{ font-size: 0.8em; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 8px; }}
.card {{ width: 260px; border: 1px solid #ddd; padding: 4px; font-size: 0.8em; }}
.card .tags {{ color: #666; max-height: 5em; overflow: auto; }}
.missing {{ color: #a00; }} .nothumb {{ width: 128px; height: 128px; background: #eee; }}
</style></head>
<body data-broken-images="unknown">
<h1>{title}</h1><p>Generated {generated}. Sections: {nav}</p>
{body}
<script>
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {{
  const body = th.closest("table").tBodies[0];
  const rows = Array.from(body.rows);
  const asc = th.dataset.asc !== "1"; th.dataset.asc = asc ? "1" : "0";
  const key = r => {{ const t = r.cells[col].textContent; const n = parseFloat(t); return isNaN(n) ? t : n; }};
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (asc ? 1 : -1));
  rows.forEach(r => body.appendChild(r));
}}));
window.addEventListener("load", () => {{
  const broken = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0);
  document.body.dataset.brokenImages = String(broken.length);
  document.body.dataset.images = String(document.images.length);
  document.body.dataset.sections = Array.from(document.querySelectorAll("section")).map(s => s.id).join(",");
}});
</script>
</body></html>
"""
