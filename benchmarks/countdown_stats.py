"""What the default Countdown problems ask, and how well a model keeps to the rules.

    move37 bench countdown [--games countdown(numbers=5)] [--problems N] [--policy builtin]

The share of held-out problems whose shortest solution takes 1, 2 or 3 steps (what "short" is
measured against), from the package's solver. With --policy: one solution sampled at
temperature 1 per held-out problem, and the share of its step lines the rules accept (the base
model's bar), with the refused steps sorted by why: not a step at all, an operand not available
(never given, or used up), or arithmetic the rules refuse (a negative difference, an inexact
division).
"""

from __future__ import annotations

from collections import Counter

from games.math import make_task
from games.math.countdown import _STEP, apply, solve


def why_refused(task, problem, solution: str, text: str) -> str:
    m = _STEP.match(text.rstrip("\n").rstrip("="))
    if not m:
        return "malformed"
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    left = Counter(task.state(problem, solution)[0])
    left[a] -= 1
    left[b] -= 1
    if left[a] < 0 or left[b] < 0:
        return "operand not available"
    return "arithmetic refused" if apply(a, op, b) is None else "other"


def legal_steps(task, problems, policy_spec: str) -> dict:
    from engine.llm.specs import make_policy
    from mcts.rollout import rollouts

    if policy_spec.strip() == "builtin":
        from engine.cli_llm import ensure_builtin

        ensure_builtin(task)
    policy = make_policy(policy_spec, task.name)
    runs = [rs[0] for rs in rollouts(task, problems, policy, 1, 1.0, seed=0)]
    steps = sum(r.steps for r in runs)
    refused = Counter(why_refused(task, p, r.text, r.rejected) for p, r in zip(problems, runs) if not r.legal)
    total = steps + sum(refused.values())
    return {"policy": policy.name, "step_lines": total, "legal_share": steps / max(total, 1),
            "refused": {k: v / max(total, 1) for k, v in refused.most_common()}}


def main(seconds: float | None = None, names: list[str] | None = None, problems: int = 1000,
         policy: str | None = None) -> list[dict]:
    rows = []
    for name in names or ["countdown"]:
        task = make_task(name)
        probs = task.problems("heldout", problems, 0)
        lengths = Counter(len(solve(p.numbers, p.target, task.exact)) for p in probs)
        shares = {k: v / problems for k, v in sorted(lengths.items())}
        row = {"task": task.name, "problems": problems, "shortest_steps_share": shares}
        print(f"{task.name}: {problems} held-out problems (seed 0); shortest solution: "
              + ", ".join(f"{k} step{'s' * (k > 1)} {v:.1%}" for k, v in shares.items()))
        if policy:
            row.update(legal_steps(task, probs, policy))
            print(f"{row['policy']}: {row['legal_share']:.1%} of {row['step_lines']} sampled step lines legal; refused: "
                  + (", ".join(f"{k} {v:.1%}" for k, v in row["refused"].items()) or "none"))
        rows.append(row)
    return rows
