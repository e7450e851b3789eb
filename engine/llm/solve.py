"""Solving problems with a policy, step by step, many problems in lockstep: the harness every
method plugs into (`move37 reason`). Methods here: `greedy`, `sample:N` (solved when any of N
samples is right; only where the problem itself is the checker, as in Countdown) and `vote:N`
(the majority answer of N samples: self-consistency). Every token generated and every prompt
token processed is charged to its problem, so methods compare at equal cost.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field

from games.math.task import Problem, Task

ROWS_PER_CALL = 256  # policy batch size


@dataclass
class Rollout:
    text: str = ""  # the solution so far (the lines after the prompt)
    steps: int = 0
    finished: bool = False
    legal: bool = True
    answer: str | None = None
    tokens: int = 0
    prompt_tokens: int = 0
    logprob: float = 0.0


@dataclass
class Result:
    problem: Problem
    answer: str | None
    solution: str
    correct: bool
    tokens: int
    prompt_tokens: int
    samples: list[Rollout] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        return {"id": self.problem.id, "answer": self.answer, "solution": self.solution, "correct": self.correct,
                "tokens": self.tokens, "prompt_tokens": self.prompt_tokens}


def step_seed(seed: int, problem_id: str, sample: int, step: int) -> int:
    """A seed that depends on the problem, never on its batch-mates."""
    digest = hashlib.blake2b(f"{seed}:{problem_id}:{sample}:{step}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def rollouts(task: Task, problems: list[Problem], policy, n: int, temperature: float, seed: int = 0,
             max_step_tokens: int = 48, progress=None) -> list[list[Rollout]]:
    """n solutions per problem, every live row advanced one step per round."""
    rows = [(i, j, Rollout()) for i in range(len(problems)) for j in range(n)]
    while True:
        live = [r for r in rows if not r[2].finished]
        if not live:
            break
        for start in range(0, len(live), ROWS_PER_CALL):
            chunk = live[start:start + ROWS_PER_CALL]
            prefixes = [problems[i].prompt + r.text for i, _, r in chunk]
            seeds = [step_seed(seed, problems[i].id, j, r.steps) for i, j, r in chunk]
            out = policy.propose(prefixes, 1, task.stop, seeds, temperature, max_step_tokens)
            for (i, _, r), cand in zip(chunk, out):
                prop = cand.proposals[0]
                r.tokens += prop.tokens
                r.prompt_tokens += cand.prompt_tokens
                r.logprob += prop.logprob
                ended = prop.text == "" or any(prop.text.endswith(s) for s in task.stop)
                step = task.step(problems[i], r.text, prop.text) if ended else None
                if step is None or not step.legal:
                    r.finished, r.legal = True, False
                    continue
                r.text += step.line
                r.steps += 1
                if step.done or r.steps >= task.max_steps:
                    r.finished, r.answer = True, step.answer
        if progress:
            progress(sum(r.finished for _, _, r in rows), len(rows))
    out: list[list[Rollout]] = [[] for _ in problems]
    for i, _, r in rows:
        out[i].append(r)
    return out


def parse_method(method: str) -> tuple[str, int]:
    name, _, count = method.partition(":")
    if name == "greedy" and not count:
        return name, 1
    if name in ("sample", "vote") and count.isdigit() and int(count) >= 1:
        return name, int(count)
    raise ValueError(f"unknown method {method!r}; use greedy, sample:N or vote:N.")


def solve(task: Task, problems: list[Problem], policy, method: str = "greedy", seed: int = 0,
          progress=None) -> list[Result]:
    name, n = parse_method(method)
    if name == "sample" and not task.checks_at_search_time:
        raise ValueError(f"sample:N counts a problem solved when any sample is right, which needs a checker "
                         f"without a reference answer; {task.name} has only references, so use vote:N.")
    samples = rollouts(task, problems, policy, n, 0.0 if name == "greedy" else 1.0, seed, progress=progress)
    results = []
    for problem, rs in zip(problems, samples):
        tokens, prompt = sum(r.tokens for r in rs), sum(r.prompt_tokens for r in rs)
        if name == "vote":
            keys = [task.vote_key(problem, r.answer) for r in rs]
            counts = Counter(k for k in keys if k is not None)
            pick = keys.index(counts.most_common(1)[0][0]) if counts else 0
        else:
            right = [k for k, r in enumerate(rs) if task.check_answer(problem, r.answer)]
            pick = right[0] if right else 0
        chosen = rs[pick]
        results.append(Result(problem, chosen.answer, chosen.text, task.check_answer(problem, chosen.answer),
                              tokens, prompt, rs))
    return results


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a rate."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summary(results: list[Result], seconds: float) -> dict:
    n = len(results)
    solved = sum(r.correct for r in results)
    lo, hi = wilson(solved, n)
    return {"summary": True, "problems": n, "solved": solved, "solve_rate": solved / max(n, 1), "low": lo, "high": hi,
            "tokens_per_problem": sum(r.tokens for r in results) / max(n, 1),
            "prompt_tokens_per_problem": sum(r.prompt_tokens for r in results) / max(n, 1), "seconds": seconds}


class Clock:
    def __init__(self):
        self.t0 = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.t0
