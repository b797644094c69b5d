"""Calibrate [dedupe] semantic_threshold, whitened_threshold, align_threshold and
align_masked_threshold on synthetic boards, and score hashes vs embeddings vs both.

For each board (two of 2,000 posts and one of 4,000 by default): 256-px images, ingest ->
select -> images -> embed
(the offline default embedder), then dedupe twice at low thresholds: with raw cosine
(whiten_dims = 0; what boards too small to whiten get) and with PCA-whitened embeddings, each
with low alignment thresholds. Every higher threshold is scored from the stored edges
(`evaluate_dedupe(..., min_similarity=t, min_alignment=..., min_masked_alignment=...)`). Each
threshold chosen is the lowest at which grouping with both signals keeps, on every board and
for every kind, the pairwise precision of hashes alone (within 0.002) or 0.99, whichever is
lower: the most recall at the precision asked for. The cosine thresholds are chosen with the default
alignment thresholds, then each
alignment threshold with the chosen whitened threshold and the other alignment default.

    python bench/calibrate_semantic.py [--boards 2000:11 2000:12 4000:13] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _common import curate, embedded_board

RAW = [round(0.86 + 0.01 * i, 2) for i in range(12)]
WHITENED = [round(0.30 + 0.025 * i, 3) for i in range(17)]
ALIGN = [round(0.85 + 0.01 * i, 2) for i in range(15)]
PRECISION_BAR = 0.99  # the pairwise precision the dedupe issues ask for
LOW_ALIGN = "align_threshold = 0.8\nalign_masked_threshold = 0.8"


def dedupe_with(ws: Path, settings: str) -> None:
    path = ws / "curate.toml"
    text = path.read_text()
    start, end = text.index("#SETTINGS"), text.index("#END\n") + 5 if "#END\n" in text else text.index("#SETTINGS") + 10
    path.write_text(text[:start] + f"#SETTINGS\n{settings}\n#END\n" + text[end:])
    curate("dedupe", str(ws))


def scores(
    ws: Path, truth: Path, signals: str, threshold: float | None, align: float | None = None, masked: float | None = None
) -> dict:
    from curation.config import DedupeConfig
    from curation.evaluate import evaluate_dedupe

    defaults = DedupeConfig()
    return {
        s.kind: {"recall": round(s.recall, 3), "precision": round(s.precision, 3), "pairs": s.truth_pairs}
        for s in evaluate_dedupe(
            ws, truth, signals, threshold, align or defaults.align_threshold, masked or defaults.align_masked_threshold
        )
    }


def precise(row: dict, hashes: dict) -> bool:
    """Whether every kind's pairwise precision in ``row`` (and all kinds') is at least that of
    hashes alone (within 0.002) or ``PRECISION_BAR``, whichever is lower."""
    return all(
        not score["precision"] < min(PRECISION_BAR, hashes.get(kind, {}).get("precision", 1.0) - 0.002)
        for kind, score in row.items()
    )  # `not <`: a kind with no predicted pair (NaN) passes


def lowest_precise(table: dict, name: str, grid: list[float]) -> float | None:
    """The lowest threshold of ``grid`` at which rows ``name@t`` are :func:`precise` on every board."""
    ok = [t for t in grid if all(precise(table[s][f"{name}@{t}"], table[s]["hashes"]) for s in table)]
    return min(ok) if ok else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--boards",
        nargs="+",
        default=["2000:11", "2000:12", "4000:13"],
        help="POSTS:SEED of each board (similarities spread differently on larger boards)",
    )
    parser.add_argument("--keep", type=Path, help="reuse/keep boards and workspaces in this folder")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="calibrate_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        boards = {}
        for spec in opts.boards:
            posts, seed = (int(v) for v in spec.split(":"))
            boards[spec] = embedded_board(work, posts, seed, "#SETTINGS\n")
        table: dict = {seed: {} for seed in boards}
        chosen = {}
        for seed, (ws, truth) in boards.items():  # what the previous release did: no pixel alignment
            dedupe_with(ws, "whitened_threshold = 0.3\nalign = false")
            for t in WHITENED:
                table[seed][f"whitened both, no alignment@{t}"] = scores(ws, truth, "both", t)
        for name, settings, grid in (
            ("raw", "whiten_dims = 0\nsemantic_threshold = 0.85", RAW),
            ("whitened", "whitened_threshold = 0.3", WHITENED),
        ):
            for seed, (ws, truth) in boards.items():
                dedupe_with(ws, f"{settings}\n{LOW_ALIGN}")
                table[seed]["hashes"] = scores(ws, truth, "hashes", None)
                for t in grid:
                    table[seed][f"{name} embeddings@{t}"] = scores(ws, truth, "embeddings", t)
                    table[seed][f"{name} both@{t}"] = scores(ws, truth, "both", t)
            chosen[name] = lowest_precise(table, f"{name} both", grid)
        # the workspaces now hold the whitened run: score alignment thresholds at the chosen cosine
        for seed, (ws, truth) in boards.items():
            for a in ALIGN:
                table[seed][f"aligned both@{a}"] = scores(ws, truth, "both", chosen["whitened"], a, None)
                table[seed][f"masked aligned both@{a}"] = scores(ws, truth, "both", chosen["whitened"], None, a)
        chosen["align"] = lowest_precise(table, "aligned both", ALIGN)
        chosen["masked align"] = lowest_precise(table, "masked aligned both", ALIGN)
        print(json.dumps({"boards": opts.boards, "chosen": chosen, "scores": table}, indent=1))
        for seed in table:
            rows = [f"{n} {sig}@{chosen[n]}" for n in ("raw", "whitened") for sig in ("embeddings", "both")]
            rows.append(f"whitened both, no alignment@{chosen['whitened']}")
            for row_name in ["hashes", *rows, f"aligned both@{chosen['align']}", f"masked aligned both@{chosen['masked align']}"]:
                row = table[seed].get(row_name, {})
                print(
                    f"seed {seed} {row_name:26s} "
                    + " ".join(f"{k}:{v['recall']:.2f}/{v['precision']:.3f}" for k, v in row.items()),
                    file=sys.stderr,
                )
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
