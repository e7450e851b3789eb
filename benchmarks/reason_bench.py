"""Solve rate against generated tokens per problem, for every method at budgets doubling from
the greedy cost: the figure a reasoning search has to win (at equal tokens, not equal calls).

    move37 bench reason [--games countdown,arith] [--problems 1000] [--seeds 3] [--policy builtin[,SPEC...]]
                        [--budgets 64,128,...] [--methods sample,vote,best,beam,mcts,gumbel] [--out DIR]

Several policies (comma-separated specs) are measured on the same problems and budgets and drawn
on one plot: a trained policy beside its base model shows whether search and learning compound.

For each task: greedy once (its tokens per problem set the first budget, twice the greedy
cost, unless --budgets is given), then each method at each budget and seed on the same held-out
problems: `sample:N`, `vote:N` and `best:N` (ranked by the value head, where the policy has
one) with N = budget / the tokens of one sample (measured by a
pilot `sample:8` run, since samples at temperature 1 run longer or shorter than the greedy
line), `beam:W,4` with W = N / 4 (at least 1), `mcts:B` and `gumbel:B`. Plots put each row at
the tokens it actually spent, so curves compare at equal tokens whatever the plan was. A rate's 95% interval pools the problems of all seeds. Beside
each row: the tokens the method actually spent (searches stop early when they find a checked
solution; beams run to their end) and the share of wall time spent inside the policy. Writes
reason.json and, with matplotlib, reason.png into --out (default: runs/bench, which git ignores).
"""

from __future__ import annotations

import json
import os
import time

from engine.llm.solve import solve, wilson
from engine.llm.specs import make_policy
from games.math import make_task

METHODS = ("sample", "vote", "best", "beam", "mcts", "gumbel")


class Timed:
    """A policy that keeps the seconds spent in its model calls; everything else (its name, usage,
    value head, encoder) is the wrapped policy's, so every method sees the policy it wraps."""

    TIMED = ("propose", "score", "value")

    def __init__(self, policy):
        self.policy, self.seconds = policy, 0.0

    def __getattr__(self, name):
        attr = getattr(self.policy, name)
        if name not in self.TIMED:
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed


def method_for(name: str, budget: int, sample_cost: float) -> str:
    n = max(1, round(budget / max(sample_cost, 1.0)))
    return {"sample": f"sample:{n}", "vote": f"vote:{n}", "best": f"best:{n}", "beam": f"beam:{max(1, n // 4)},4",
            "mcts": f"mcts:{budget}", "gumbel": f"gumbel:{budget}"}[name]


def run_method(task, problems, policy, method: str, seeds: int) -> dict:
    solved = tokens = prompt = 0
    timed = Timed(policy)
    t0 = time.perf_counter()
    for seed in range(seeds):
        for r in solve(task, problems, timed, method, seed):
            solved += r.correct
            tokens += r.tokens
            prompt += r.prompt_tokens
    wall = time.perf_counter() - t0
    n = len(problems) * seeds
    lo, hi = wilson(solved, n)
    return {"method": method, "solved": solved, "runs": n, "solve_rate": solved / n, "low": lo, "high": hi,
            "tokens_per_problem": tokens / n, "prompt_tokens_per_problem": prompt / n, "seconds": wall,
            "policy_share": timed.seconds / max(wall, 1e-9)}


def main(seconds: float | None = None, names: list[str] | None = None, problems: int = 1000, seeds: int = 3,
         policy: str = "builtin", budgets: list[int] | None = None, methods: list[str] | None = None,
         out: str = os.path.join("runs", "bench")) -> list[dict]:
    unknown = set(methods or ()) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown method {sorted(unknown)[0]!r} for bench reason; choose from {', '.join(METHODS)}.")
    rows, plans = [], {}
    for name, spec in ((n, s.strip()) for n in names or ["countdown", "arith"] for s in policy.split(",")):
        task = make_task(name)
        if spec == "builtin":
            from engine.cli_llm import ensure_builtin

            ensure_builtin(task)
        pol = make_policy(spec, task.name)
        probs = task.problems("heldout", problems, 0)
        greedy = run_method(task, probs, pol, "greedy", 1)
        cost = greedy["tokens_per_problem"]
        # every policy of a task at the first one's budgets
        plan = budgets or plans.setdefault(name, [int(round(cost * 2 ** i)) for i in range(1, 6)])
        sample_cost = run_method(task, probs, pol, "vote:8", 1)["tokens_per_problem"] / 8
        print(f"{task.name}: {len(probs)} held-out problems x {seeds} seeds, policy {spec}; greedy solves "
              f"{greedy['solve_rate']:.1%} with {cost:.1f} tokens per problem", flush=True)
        print(f"{'budget':>7} {'method':>16} {'solved':>7} {'95% interval':>15} {'tokens':>8} {'policy share':>13}")
        rows.append(dict(greedy, task=task.name, budget=round(cost), policy=spec))
        for budget in plan:
            for m in methods or METHODS:
                if m == "sample" and not task.checks_at_search_time:
                    continue  # any-of-N needs a checker without the reference answer
                if m == "best" and getattr(pol, "value_head", None) is None:
                    continue  # best-of-N ranks by a value head the policy does not have
                row = dict(run_method(task, probs, pol, method_for(m, budget, sample_cost), seeds), task=task.name,
                           budget=budget, family=m, policy=spec)
                rows.append(row)
                print(f"{budget:>7} {row['method']:>16} {row['solve_rate']:>7.1%} "
                      f"{row['low']:>6.1%} to {row['high']:>5.1%} {row['tokens_per_problem']:>8.1f} "
                      f"{row['policy_share']:>12.0%}", flush=True)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "reason.json"), "w") as f:
        json.dump(rows, f, indent=1)
    _plot(rows, os.path.join(out, "reason.png"))
    return rows


def _plot(rows: list[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed, so no plot was written (pip install matplotlib).")
        return
    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    policies = list(dict.fromkeys(r.get("policy") for r in rows))
    for ax, task in zip(axes[0], tasks):
        for (k, spec), (j, fam) in ((a, b) for a in enumerate(policies) for b in enumerate(METHODS)):
            pts = sorted((r["tokens_per_problem"], r["solve_rate"], r["low"], r["high"]) for r in rows
                         if r["task"] == task and r.get("family") == fam and r.get("policy") == spec)
            if pts:
                x, y, lo, hi = zip(*pts)
                ax.errorbar(x, y, yerr=[[a - b for a, b in zip(y, lo)], [b - a for a, b in zip(y, hi)]], marker="os^"[k % 3],
                            capsize=3, color=f"C{j}", linestyle=("-", "--", ":")[k % 3],
                            label=fam if len(policies) == 1 else f"{fam}, {spec}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("generated tokens per problem")
        ax.set_ylabel("solve rate")
        ax.set_title(task)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")
