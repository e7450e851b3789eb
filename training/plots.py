"""Learning-curve plots of a run directory (needs matplotlib: `pip install move37[plots]`).

    python -m training.plots runs/connect4 docs/connect4_curve.png
"""

from __future__ import annotations

import json
import math
import os
import sys


ELO_CLIP = 600  # a clean sweep has no finite Elo; it is drawn at the clip with an open marker


def _first_player_scores(run_dir: str) -> list[tuple[float, float]]:
    """(minutes, first player's self-play score) per iteration; empty for runs that predate it."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [(r["elapsed_minutes"], r["first_player_score"]) for r in rows if "first_player_score" in r]


def elo_curve(run_dir: str, out_png: str, title: str | None = None):
    """Panels against training time: the score against each reference (95% normal intervals),
    the Elo difference it implies (95% intervals; sweeps drawn at the clip) and, where the run
    logged it, the first player's score in self-play, which shows self-play settling into games
    one colour always wins. Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(run_dir, "elo.json")) as f:
        history = json.load(f)
    opponents = sorted({k for h in history for k in h["results"]})
    first = _first_player_scores(run_dir)
    fig, axes = plt.subplots(3 if first else 2, 1, figsize=(7, 9 if first else 7), sharex=True)
    top, bottom = axes[0], axes[1]
    for opp in opponents:
        pts = [(h["elapsed_minutes"], h["results"][opp]) for h in history if opp in h["results"]]
        xs = [t for t, _ in pts]
        ys = [r["score"] for _, r in pts]
        n = [max(r["wins"] + r["draws"] + r["losses"], 1) for _, r in pts]
        err = [1.96 * math.sqrt(max(y * (1 - y), 0.01) / k) for y, k in zip(ys, n)]
        line = top.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"vs {opp}")
        color = line[0].get_color()
        finite = [(t, r) for t, r in pts if r["elo"] is not None]
        if finite:
            elo = [min(max(r["elo"], -ELO_CLIP), ELO_CLIP) for _, r in finite]
            low = [e - (r["elo_low"] if r["elo_low"] is not None else -ELO_CLIP) for e, (_, r) in zip(elo, finite)]
            high = [(r["elo_high"] if r["elo_high"] is not None else ELO_CLIP) - e for e, (_, r) in zip(elo, finite)]
            bottom.errorbar([t for t, _ in finite], elo, yerr=[[max(v, 0) for v in low], [max(v, 0) for v in high]],
                            marker="o", capsize=3, color=color, label=f"vs {opp}")
        sweeps = [(t, ELO_CLIP if r["score"] >= 0.5 else -ELO_CLIP) for t, r in pts if r["elo"] is None]
        if sweeps:
            bottom.scatter(*zip(*sweeps), marker="o", facecolors="none", edgecolors=color)
    top.set_ylabel("score (win = 1, draw = 0.5)")
    top.set_ylim(-0.05, 1.05)
    bottom.set_ylabel(f"Elo difference (clipped at +/-{ELO_CLIP})")
    bottom.set_ylim(-ELO_CLIP - 50, ELO_CLIP + 50)
    if first:
        axes[2].plot(*zip(*first), color="gray")
        axes[2].axhline(0.5, color="black", linewidth=0.5)
        axes[2].set_ylabel("self-play: first player's score")
        axes[2].set_ylim(-0.05, 1.05)
    axes[-1].set_xlabel("training time (minutes)")
    for ax in axes:
        ax.grid(alpha=0.3)
    top.legend()
    top.set_title(title or os.path.basename(os.path.normpath(run_dir)))
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return fig


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python -m training.plots RUN_DIR OUT.png [TITLE]")
    elo_curve(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
