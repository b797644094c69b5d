"""The report's charts: matplotlib (Agg, no display), one PNG per chart. Pure: numbers in, file out."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(width: float = 7.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False  # tag and filter names are text: "$...$" is not mathtext
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def funnel(steps: list[str], posts: list[int], path: Path) -> Path:
    """Horizontal bars: posts left after each select step, first step on top."""
    plt, fig, ax = _figure(7.0, 0.5 + 0.45 * len(steps))
    y = np.arange(len(steps))[::-1]
    ax.barh(y, posts, color="#4c78a8")
    for yi, n in zip(y, posts):
        ax.text(n, yi, f" {n:,}", va="center", fontsize=8)
    ax.set_yticks(y, steps, fontsize=8)
    ax.set_xlabel("posts left")
    ax.set_xlim(0, max(posts) * 1.15 if posts else 1)
    return _save(plt, fig, path)


def tag_frequencies(before: np.ndarray, after: np.ndarray, path: Path) -> Path:
    """Log-log rank-frequency curves of tag post counts, all tags vs the selected label tags."""
    plt, fig, ax = _figure()
    for counts, label in ((before, "all tags (board)"), (after, "label tags (selection)")):
        counts = np.sort(counts[counts > 0])[::-1]
        if len(counts):
            ax.loglog(np.arange(1, len(counts) + 1), counts, label=f"{label}: {len(counts):,}")
    ax.set_xlabel("tag rank")
    ax.set_ylabel("posts with the tag")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.2)
    return _save(plt, fig, path)


def bars(labels: list[str], values: list[float], path: Path, xlabel: str, colour: str = "#f58518") -> Path:
    plt, fig, ax = _figure(7.0, 0.6 + 0.35 * max(len(labels), 1))
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=colour)
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:,.3g}" if isinstance(v, float) else f" {v:,}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, (max(values) if values else 1) * 1.2 or 1)
    return _save(plt, fig, path)


def grouped_bars(groups: list[str], series: dict[str, list[float]], path: Path, ylabel: str) -> Path:
    plt, fig, ax = _figure()
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    ax.set_xticks(x, groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def precision_recall(curve: dict[str, list[float]], chosen: float, equal_at: float, path: Path) -> Path:
    """Micro precision and recall against the threshold, with the configured threshold and P=R marked."""
    plt, fig, ax = _figure()
    ax.plot(curve["threshold"], curve["precision"], label="precision (micro)")
    ax.plot(curve["threshold"], curve["recall"], label="recall (micro)")
    ax.axvline(chosen, color="grey", linestyle="--", label=f"threshold {chosen:.2f}")
    ax.axvline(equal_at, color="black", linestyle=":", label=f"P = R at {equal_at:.2f}")
    ax.set_xlabel("threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.2)
    return _save(plt, fig, path)
