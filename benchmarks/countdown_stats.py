"""What the default Countdown problems ask: the share of held-out problems whose shortest
solution takes 1, 2 or 3 steps (what "short" is measured against), from the package's solver.

    move37 bench countdown [--games countdown(numbers=5)]
"""

from __future__ import annotations

from collections import Counter

from games.math import make_task
from games.math.countdown import solve


def main(seconds: float | None = None, names: list[str] | None = None, problems: int = 1000) -> list[dict]:
    rows = []
    for name in names or ["countdown"]:
        task = make_task(name)
        lengths = Counter(len(solve(p.numbers, p.target, task.exact)) for p in task.problems("heldout", problems, 0))
        shares = {k: v / problems for k, v in sorted(lengths.items())}
        rows.append({"task": task.name, "problems": problems, "shortest_steps_share": shares})
        print(f"{task.name}: {problems} held-out problems (seed 0); shortest solution: "
              + ", ".join(f"{k} step{'s' * (k > 1)} {v:.1%}" for k, v in shares.items()))
    return rows
