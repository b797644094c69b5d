"""Benchmark: the review page on a 100,000-suggestion workspace, in headless Chromium.

A synthetic board (``--posts``, default 400) is run through every stage without Prefect, then its
``suggestions`` table is filled up to ``--suggestions`` rows (each selected post x label tag
pair the tagger did not flag, with random confidences: the queue's size is what is measured,
not its quality). The page is served on loopback and driven by Selenium:

- server ready: the app reading the queue and its evidence from the catalog;
- open: from navigation to the first card drawn (the queue's first page of 50 filtered from
  the whole frame), median of ``--repeats`` page loads;
- next card: from a key press (``s`` skip and ``a`` accept, alternating) to the next card drawn,
  read from the page's own ``performance.now()`` stamps; median and 95th percentile of
  ``--presses`` presses (a page boundary every 50 included).

    python bench/bench_review_page.py [--posts 400] [--suggestions 100000] [--presses 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def build(work: Path, posts: int, suggestions: int) -> Path:
    from curation import pipeline
    from curation.config import load_config, with_settings, write_config
    from curation.synth import generate_board
    from curation.workspace import init_workspace

    ws = work / "ws"
    if (ws / "catalog.duckdb").exists():
        return ws
    generate_board(work / "board", posts, seed=1, image_size=128, workers=2)
    init_workspace(ws, [work / "board"])
    write_config(ws, with_settings(load_config(ws), tagger={"folds": 2, "epochs": 3}, select={"min_tag_count": 2}))
    for name in pipeline.STAGE_NAMES:
        pipeline.run_stage(ws, name)
    con = duckdb.connect(str(ws / "catalog.duckdb"))
    have = con.execute("SELECT count(*) FROM suggestions").fetchall()[0][0]
    rng = np.random.default_rng(0)
    con.execute("CREATE TEMP TABLE pairs AS SELECT s.post_id, t.name AS tag, t.category FROM selection s, selected_tags t "
                "WHERE (s.post_id, t.name) NOT IN (SELECT post_id, tag FROM suggestions) ORDER BY hash(s.post_id, t.name) "
                f"LIMIT {max(suggestions - have, 0)}")  # fmt: skip
    n = con.execute("SELECT count(*) FROM pairs").fetchall()[0][0]
    con.execute("CREATE TEMP TABLE conf AS SELECT unnest(?::DOUBLE[]) AS c, generate_subscripts(?::DOUBLE[], 1) AS i",
                [rng.uniform(0.5, 1.0, n).tolist()] * 2)  # fmt: skip
    con.execute(
        "INSERT INTO suggestions BY NAME SELECT ? + row_number() OVER () AS rank, p.post_id, p.tag, p.category, "
        "'add' AS action, c.c AS precision_estimate, c.c AS confidence, 0.5 AS label_quality, [] AS implies "
        "FROM (SELECT *, row_number() OVER () AS i FROM pairs) p JOIN conf c USING (i)",
        [have],
    )
    con.close()
    return ws


def measure(ws: Path, presses: int, repeats: int) -> dict:
    from test_review_page import Server, _browser, _card, _press, _wait

    started = time.perf_counter()
    server = Server(ws)  # reads the queue and its evidence from the catalog
    serve_s = time.perf_counter() - started
    driver = _browser()
    try:
        opens = []
        for _ in range(repeats):
            started = time.perf_counter()
            driver.get(server.url)
            _wait(driver, lambda d: d.find_element("id", "card").get_attribute("data-post-id"), timeout=60)
            opens.append(time.perf_counter() - started)
        total = driver.execute_script("return document.getElementById('status').textContent")
        for i in range(presses):
            before = _card(driver)
            _press(driver, "s" if i % 2 else "a")
            _wait(driver, lambda d, b=before: _card(d) != b, timeout=30)
        latencies = driver.execute_script("return window.curateTimings.latencies")
    finally:
        driver.quit()
        server.stop()
    latencies = sorted(latencies)
    return {
        "queue": total,
        "server_ready_s": round(serve_s, 3),
        "open_s_median": round(statistics.median(opens), 3),
        "open_s_max": round(max(opens), 3),
        "next_card_ms_median": round(statistics.median(latencies), 1),
        "next_card_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "next_card_ms_max": round(latencies[-1], 1),
        "presses": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--suggestions", type=int, default=100_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the workspace here.")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_review_"))
    ws = build(work, args.posts, args.suggestions)
    result = measure(ws, args.presses, args.repeats)
    result["machine"] = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
