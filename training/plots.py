"""Learning-curve plots of a run directory (needs matplotlib: `pip install move37[plots]`).

    python -m training.plots runs/connect4 docs/connect4_curve.png
"""

from __future__ import annotations

import json
import math
import os
import sys


def elo_curve(run_dir: str, out_png: str, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(run_dir, "elo.json")) as f:
        history = json.load(f)
    opponents = sorted({k for h in history for k in h["results"]})
    fig, ax = plt.subplots(figsize=(7, 4))
    for opp in opponents:
        pts = [(h["elapsed_minutes"], h["results"][opp]) for h in history if opp in h["results"]]
        xs = [t for t, _ in pts]
        ys = [r["score"] for _, r in pts]
        n = [max(r["wins"] + r["draws"] + r["losses"], 1) for _, r in pts]
        err = [1.96 * math.sqrt(max(y * (1 - y), 0.01) / k) for y, k in zip(ys, n)]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"vs {opp}")
    ax.set_xlabel("training time (minutes, 2 CPU cores)")
    ax.set_ylabel("score (win = 1, draw = 0.5)")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or os.path.basename(os.path.normpath(run_dir)))
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python -m training.plots RUN_DIR OUT.png [TITLE]")
    elo_curve(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
