"""Benchmark: ingest and select at board scale (issue: Ingest and select).

Builds a 1,000,000-post Danbooru 2021-style dump (a 100k-post synthetic board repeated ten
times with shifted ids, so every row is a distinct post), then, in fresh processes, side by
side and alternating:

- baseline: a bare DuckDB ``read_json`` of the file plus splitting ``tag_string`` into
  post-tag rows, materialised in a table (what DuckDB itself costs);
- ``curate ingest`` of the same file with its tags, aliases and implications, into a fresh
  workspace (canonicalisation, implications, rejects, upsert);
- ``curate select`` with every filter configured.

Target: ingest within 3x of the baseline, peak RSS under 2 GB; select under 5 s.
``--previous CHECKOUT`` also runs that checkout's ``curate ingest`` (an earlier release) in every
round, between the baseline and this one, so both are timed on the same machine state.

    python bench/bench_ingest.py [--posts 1000000] [--repeats 3] [--keep DIR] [--previous CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import resource, sys, time
    mode, arg = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    if mode == "baseline":
        import duckdb
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        con.execute("CREATE TABLE post_tags AS SELECT id, unnest(string_split(tag_string, ' ')) AS tag FROM read_json(?)", [arg])
        rows = con.execute("SELECT count(*) FROM post_tags").fetchall()[0][0]
    elif mode == "ingest":
        from curation.ingest import ingest
        rows = ingest(arg).post_tags
    else:
        from curation.select import select
        rows = select(arg).posts
    print(time.perf_counter() - t, rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
""")

SELECT_ALL = """
[select]
created_after = 2008-01-01
created_before = 2025-06-01
parents = "drop_children"
drop_deleted = true
drop_banned = true
drop_flagged = true
drop_pending = true
ratings = ["g", "s", "q"]
file_exts = ["jpg", "png", "webp"]
min_width = 100
min_height = 100
require_tags = ["solo"]
exclude_tags = ["monochrome"]
categories = ["general", "character"]
min_tag_count = 50
top_n_tags = 2000
drop_tags = ["solo"]
min_tags_per_post = 5
max_tags_per_post = 60
id_mod_1000 = [[0, 899]]
sample_fraction = 0.95
"""


ROOT = Path(__file__).resolve().parents[1]


def run(mode: str, arg: str, code: Path | None = None) -> tuple[float, int, int]:
    """One child run; ``code``: a checkout to import the project from instead of this one. The
    child runs in the checkout it imports: ``python -c`` puts its working directory first on
    sys.path, ahead of PYTHONPATH."""
    code = code or ROOT
    out = (
        subprocess.run(
            [sys.executable, "-c", CHILD, mode, arg],
            check=True,
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(code)),
            cwd=code,
        )
        .stdout.splitlines()[-1]
        .split()
    )
    return float(out[0]), int(out[1]), int(out[2])


def build_kernels(checkout: Path) -> None:
    """A checkout's compiled ingest kernels, built in place when it has them and they are not
    built (releases before session 11 had none)."""
    source = checkout / "curation" / "ingest" / "_kernels.c"
    if source.exists() and not list(source.parent.glob("_kernels*.so")):
        subprocess.run(
            [sys.executable, "-c", "from setuptools import setup; setup()", "build_ext", "--inplace"],
            cwd=checkout,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def build_dump(work: Path, posts: int) -> Path:
    """The dump, written by child processes: a child's peak RSS would otherwise start at this
    process's (Linux carries ru_maxrss across fork and exec), and the copy takes gigabytes."""
    base_posts = min(posts, 100_000)
    board = work / "board"
    subprocess.run(
        [sys.executable, "-m", "curation.cli", "-q", "synth", str(board), "--posts", str(base_posts), "--no-images"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    copies = max(1, posts // base_posts)
    target = work / "dump" / "posts000000000000.json"
    target.parent.mkdir()
    for name in ("tags000000000000.json", "tag_aliases.csv", "tag_implications.csv"):
        shutil.copy(board / "metadata" / name, target.parent / name)
    src = str(board / "metadata" / "posts0*.json")
    copy = f"""COPY (
        SELECT * REPLACE (id + k * 100000000 AS id, parent_id + k * 100000000 AS parent_id)
        FROM read_json('{src}'), range({copies}) AS r(k)
    ) TO '{target}' (FORMAT json)"""
    subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect().execute(sys.argv[1])", copy], check=True)
    return target


def _fresh_workspace(ws: Path, d: Path) -> None:
    """An empty workspace whose curate.toml ingests the dump in d and selects with every filter."""
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir()
    (ws / "curate.toml").write_text(
        f'[[sources]]\npath = "{d}/posts0*.json"\nformat = "danbooru2021"\n\n'
        f'[[sources]]\npath = "{d}/tags000000000000.json"\nformat = "tags"\n\n'
        f'[[sources]]\npath = "{d}/tag_aliases.csv"\nformat = "aliases"\n\n'
        f'[[sources]]\npath = "{d}/tag_implications.csv"\nformat = "implications"\n' + SELECT_ALL
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the dump here and keep it")
    parser.add_argument("--previous", type=Path, help="a checkout of an earlier release: its ingest runs in every round too")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    work.mkdir(parents=True, exist_ok=True)
    dump = work / "dump" / "posts000000000000.json"
    if not dump.exists():
        dump = build_dump(work, opts.posts)
    size_mb = dump.stat().st_size / 2**20
    results: dict[str, list[tuple[float, int, int]]] = {"baseline": [], "ingest": [], "select": []}
    if opts.previous:
        opts.previous = opts.previous.resolve()
        build_kernels(opts.previous)
        results["previous_ingest"] = []
    for _ in range(opts.repeats):
        results["baseline"].append(run("baseline", str(dump)))
        ws = work / "ws"
        if opts.previous:
            _fresh_workspace(ws, dump.parent)
            results["previous_ingest"].append(run("ingest", str(ws), code=opts.previous))
        _fresh_workspace(ws, dump.parent)
        results["ingest"].append(run("ingest", str(ws)))
        results["select"].append(run("select", str(ws)))
    summary = {}
    for mode, runs in results.items():
        summary[mode] = {
            "median_s": round(statistics.median(r[0] for r in runs), 2),
            "runs_s": [round(r[0], 2) for r in runs],
            "peak_rss_mb": round(max(r[2] for r in runs) / 2**20),
            "rows": runs[0][1],
        }
    ratio = summary["ingest"]["median_s"] / summary["baseline"]["median_s"]
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()},
        "dump": {"posts": opts.posts, "file_mb": round(size_mb)},
        "results": summary,
        "ingest_over_baseline": round(ratio, 2),
    }
    if opts.previous:
        report["previous_ingest_over_baseline"] = round(
            summary["previous_ingest"]["median_s"] / summary["baseline"]["median_s"], 2
        )
    print(json.dumps(report, indent=2))
    if not opts.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
