"""The report's PNG plots (matplotlib's Agg canvas; no pyplot, no display, no global state)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .metrics import Z95

MARKERS = "osD^vPX*"


def arm_style(k: int) -> tuple[str, str]:
    """The k-th arm's (colour, marker): ten colours, then the next marker, so no two of 80
    arms share both."""
    return f"C{k % 10}", MARKERS[(k // 10) % len(MARKERS)]


def _figure(width: float, height: float):
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def curve_labels(k: int) -> list[int]:
    """The N to label on a best-of-N curve of N = 1..k: 1, 2, 3, 5, 10, 20, 50... and k."""
    marks = {1, 2, 3, k} | {m * 10**e for e in range(6) for m in (1, 2, 5)}
    return sorted(n for n in marks if 1 <= n <= k)


def _draw_curve(ax, curve: Sequence[dict]) -> None:
    """The nested best-of-N curve as a line, N written at a few of its points."""
    xs = [r["tokens_mean"] for r in curve]
    ys = [r["accuracy"] for r in curve]
    ax.plot(xs, ys, "-", marker=".", color="black", alpha=0.6, zorder=1,
            label=f"best-of-N curve (from {curve[0]['arm']})")  # fmt: skip
    labelled = set(curve_labels(len(curve)))
    for r in curve:
        if r["n"] in labelled:
            ax.annotate(f"N={r['n']}", (r["tokens_mean"], r["accuracy"]), fontsize=7,
                        xytext=(3, -10), textcoords="offset points")  # fmt: skip


def tokens_vs_accuracy(
    rows: Sequence[dict], path: Path, curve: Sequence[dict] = ()
) -> Path | None:
    """The tokens–accuracy plot (`tokens_accuracy_figure`) as a PNG; None without arms."""
    fig = tokens_accuracy_figure(rows, curve)
    if fig is None:
        return None
    fig.savefig(path, dpi=110)
    return path


def tokens_accuracy_figure(rows: Sequence[dict], curve: Sequence[dict] = ()) -> Figure | None:
    """Mean generated tokens (±95 % normal CI) against accuracy (Wilson 95 %) per arm, its
    tree-vote accuracy as a hollow marker, and the nested best-of-N curve as a line."""
    rows = [r for r in rows if r["problems"]]
    if not rows:
        return None
    fig, ax = _figure(6.4, 4.4)
    if curve:
        _draw_curve(ax, curve)
    for k, row in enumerate(rows):
        color, marker = arm_style(k)
        n = row["problems"]
        xerr = Z95 * row["tokens_sd"] / math.sqrt(n)
        yerr = [[row["accuracy"] - row["acc_lo"]], [row["acc_hi"] - row["accuracy"]]]
        ax.errorbar(
            row["tokens_mean"],
            row["accuracy"],
            xerr=xerr,
            yerr=yerr,
            fmt=marker,
            capsize=4,
            color=color,
            label=row["arm"],
        )
        vote = row.get("vote_accuracy", math.nan)
        if not math.isnan(vote) and vote != row["accuracy"]:
            ax.plot(row["tokens_mean"], vote, marker, mfc="none", color=color, ms=8)
    ax.set_xlabel("generated tokens per problem (mean, 95 % CI)")
    ax.set_ylabel("accuracy (Wilson 95 % CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Tokens vs accuracy per arm (hollow: tree vote)")
    fig.tight_layout()
    return fig


def token_ratio_strip(ratios: Mapping[str, Mapping[str, float]], path: Path) -> Path | None:
    """Per-problem token ratio (arm / vanilla) as a jittered strip per arm, median marked."""
    arms = [a for a, r in ratios.items() if r]
    if not arms:
        return None
    rng = np.random.default_rng(0)
    fig, ax = _figure(max(4.0, 1.4 * len(arms) + 2), 4.2)
    for k, arm in enumerate(arms):
        ys = np.array(sorted(ratios[arm].values()))
        xs = k + rng.uniform(-0.18, 0.18, size=ys.size)
        ax.scatter(xs, ys, s=16, alpha=0.65, color=f"C{(k + 1) % 10}")
        ax.hlines(float(np.median(ys)), k - 0.3, k + 0.3, color="black", linewidth=2)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel("tokens: arm / vanilla (per problem)")
    ax.set_title("Per-problem token ratio (bar: median)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
