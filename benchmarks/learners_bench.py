"""The learners side by side at equal wall time: expert iteration from sampling under each
selection rule, expert iteration from search, and GRPO, each from the same base model for the
same minutes on the same machine, one after another (never two at once, so that none steals
the others' cores).

    move37 bench learners [--seconds 900] [--methods right_short,right,all,search,grpo,grpo_lr3e-4,results]
                          [--policy builtin] [--problems 1000] [--seeds 1] [--out runs/bench/learners]

Arms (`move37 train countdown` settings on top of the defaults):
    right_short  expert iteration from temperature-1 samples, the shortest right one kept (the default)
    right        every distinct right sample kept
    all          wrong samples kept too: the control that should fail
    search       expert iteration from the reasoning search (generator=gumbel:256, its solution per problem)
    grpo         GRPO on every sample, with the checker's reward (learner=grpo, learning rate 5e-5)
    grpo_lr3e-4  GRPO at expert iteration's learning rate, 3e-4
    results      right_short with an auxiliary loss (weight 0.5) on the results the rules wrote
Each arm's run directory is OUT/ARM-seedS; a rerun skips the arms that finished and resumes an
interrupted one. Greedy solve rate on `--problems` held-out problems after every iteration is
the figure (the costlier evaluations are off, so that each arm spends its minutes learning);
the table reports the last five iterations' mean beside the best, since one iteration's figure
moves by a point or two. Writes learners.json and, with matplotlib, learners.png into --out.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from games.math import make_task

ARMS = {
    "right_short": {},
    "right": {"select": "right"},
    "all": {"select": "all"},
    "search": {"generator": "gumbel:256"},
    "grpo": {"learner": "grpo"},
    "grpo_lr3e-4": {"learner": "grpo", "learning_rate": 3e-4},
    "results": {"result_loss": 0.5},
}
SECONDS = 900.0
TAIL = 5  # iterations averaged at the end of each arm


def run_arm(task, init: str, run_dir: str, settings: dict):
    """Train one arm to its minutes (resuming an interrupted one); its metrics rows."""
    from training.expert import ExpertConfig, ExpertIteration

    metrics = os.path.join(run_dir, "metrics.jsonl")
    config = ExpertConfig(**settings)
    if not os.path.exists(os.path.join(run_dir, "done")):
        resume = os.path.exists(os.path.join(run_dir, "state.pt"))
        ExpertIteration(task, run_dir, init, config, resume=resume, out=io.StringIO()).run()
        open(os.path.join(run_dir, "done"), "w").close()
    with open(metrics) as f:
        return [json.loads(line) for line in f]


def summarise(rows: list[dict]) -> dict:
    tail = rows[-TAIL:]
    tokens = [r["right_solution_tokens"] for r in tail if r.get("right_solution_tokens") is not None]
    return {"iterations": len(rows), "minutes": rows[-1]["elapsed_minutes"],
            "greedy_last": float(np.mean([r["greedy_solve_rate"] for r in tail])),
            "greedy_best": max(r["greedy_solve_rate"] for r in rows),
            "greedy_first": rows[0]["greedy_solve_rate"],
            "right_solution_tokens_last": float(np.mean(tokens)) if tokens else None,
            "solved_share_last": float(np.mean([r["solved_share"] for r in tail])),
            "kept_last": float(np.mean([r["kept"] for r in tail]))}


def base_greedy(task, init: str, problems: int, out: str) -> float:
    """The base model's greedy solve rate on the arms' evaluation problems (cached in --out)."""
    path = os.path.join(out, f"base-greedy-{problems}.json")
    if not os.path.exists(path):
        from engine.llm.local import LocalPolicy
        from engine.llm.solve import solve

        results = solve(task, task.problems("heldout", problems, 0), LocalPolicy(init), "greedy", 0)
        os.makedirs(out, exist_ok=True)
        with open(path, "w") as f:
            json.dump({"init": os.path.abspath(init), "greedy": float(np.mean([r.correct for r in results]))}, f)
    with open(path) as f:
        return json.load(f)["greedy"]


def plot(results: dict, base_greedy: float, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, r), color in zip(results.items(), ("C0", "C1", "C2", "C3", "C4", "C5")):
        t = [0.0] + [x["elapsed_minutes"] for x in r["rows"]]
        axes[0].plot(t, [base_greedy] + [x["greedy_solve_rate"] * 100 for x in r["rows"]], color=color,
                     label=name)
        axes[1].plot(t[1:], [x.get("right_solution_tokens") or np.nan for x in r["rows"]], color=color, label=name)
    axes[0].set_ylabel("held-out greedy solve rate, %")
    axes[1].set_ylabel("tokens of greedy's right solutions")
    for ax in axes:
        ax.set_xlabel("wall-clock minutes of training (2 CPU cores)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(names=None, seconds: float = SECONDS, methods: list[str] | None = None, policy: str = "builtin",
         problems: int = 1000, seeds: int = 1, out: str | None = None, settings: dict | None = None) -> dict:
    """`settings` adds to every arm's (tests make the iterations small)."""
    task = make_task(names[0] if names else "countdown")
    methods = methods or list(ARMS)
    unknown = [m for m in methods if m not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm {unknown[0]!r}; the arms are {', '.join(ARMS)}.")
    out = out or os.path.join("runs", "bench", "learners")
    from engine.cli_llm import base_model_dir

    init = base_model_dir(policy, task)
    if init is None:
        raise ValueError(f"{policy} is not a local model directory; the learners train from one.")
    base = base_greedy(task, init, problems, out)
    print(f"base model: greedy {base:.1%} on {problems} held-out problems", flush=True)
    results = {}
    for seed in range(seeds):
        for arm in methods:
            chosen = {"minutes": seconds / 60, "eval_problems": problems, "eval_every": 10 ** 9, "seed": seed,
                      **ARMS[arm], **(settings or {})}
            rows = run_arm(task, init, os.path.join(out, f"{arm}-seed{seed}"), chosen)
            key = arm if seeds == 1 else f"{arm} (seed {seed})"
            results[key] = {"settings": chosen, **summarise(rows), "rows": rows}
            s = results[key]
            tokens = "-" if s["right_solution_tokens_last"] is None else f"{s['right_solution_tokens_last']:.1f}"
            print(f"{key:<24} {s['iterations']:>4} iterations in {s['minutes']:.1f} min  greedy: last {TAIL} "
                  f"{s['greedy_last']:.1%}, best {s['greedy_best']:.1%}  right-solution tokens {tokens}  "
                  f"training problems solved {s['solved_share_last']:.0%}", flush=True)
    summary = {"command": f"move37 bench learners --seconds {seconds:g} --methods {','.join(methods)} "
                          f"--problems {problems} --seeds {seeds}", "init": os.path.abspath(init),
               "base_greedy": base, "arms": results}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "learners.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot(results, base * 100, os.path.join(out, "learners.png"))
    return summary
