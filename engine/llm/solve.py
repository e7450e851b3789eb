"""Solving problems with a policy, step by step, many problems in lockstep: the harness every
method plugs into (`move37 reason`). Methods: `greedy`, `sample:N` (solved when any of N
samples is right; only where the problem itself is the checker, as in Countdown), `vote:N`
(the majority answer of N samples: self-consistency), `best:N` (the sample the value head rates
highest), `beam:W,K` (step-level beam search), and the tree searches `mcts:TOKENS` (PUCT)
and `gumbel:TOKENS` (Gumbel root search), each with a budget of generated tokens per problem
and optional settings (`gumbel:1024,samples=4`; mcts/text.py lists them). Every token generated
and every prompt token processed is charged to its problem, so methods compare at equal cost.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

from games.math.task import Problem, Task
from mcts.rollout import ROWS_PER_CALL, Rollout, rollouts, step_seed  # noqa: F401  (the harness's API)
from engine.llm.beam import beam_search
from mcts.settings import replace_from
from mcts.text import TextSearchConfig, search_text


@dataclass
class Result:
    problem: Problem
    answer: str | None
    solution: str
    correct: bool
    tokens: int
    prompt_tokens: int
    samples: list[Rollout] = field(default_factory=list, repr=False)
    search: object = field(default=None, repr=False)  # the search's TextResult (its tree), for search methods

    def to_json(self) -> dict:
        return {"id": self.problem.id, "answer": self.answer, "solution": self.solution, "correct": self.correct,
                "tokens": self.tokens, "prompt_tokens": self.prompt_tokens}


METHODS = "greedy, sample:N, vote:N, best:N, beam:W,K, mcts:TOKENS or gumbel:TOKENS (with ,key=value settings)"


def parse_method(method: str) -> tuple[str, int, TextSearchConfig | tuple[int, int] | None]:
    """(name, rows a problem adds to a policy call, the search's settings: a TextSearchConfig for
    the tree searches, (width, samples) for beam search)."""
    name, _, rest = method.partition(":")
    count, *pairs = rest.split(",")
    if name == "greedy" and not rest:
        return name, 1, None
    if name == "beam" and count.isdigit() and len(pairs) == 1 and pairs[0].isdigit() and int(count) * int(pairs[0]):
        return name, int(count) * int(pairs[0]), (int(count), int(pairs[0]))
    if name in ("sample", "vote", "best") and count.isdigit() and int(count) >= 1 and not pairs:
        return name, int(count), None
    if name in ("mcts", "gumbel") and count.isdigit() and int(count) >= 1:
        values = dict(p.partition("=")[::2] for p in pairs)
        if any("=" not in p for p in pairs):
            raise ValueError(f"search settings are key=value, as in gumbel:1024,samples=4; not {method!r}.")
        config = replace_from(TextSearchConfig(algorithm="puct" if name == "mcts" else "gumbel", budget=int(count)),
                              values)
        if config.algorithm != ("puct" if name == "mcts" else "gumbel"):
            raise ValueError(f"{name}: sets its own algorithm; use mcts: for PUCT and gumbel: for Gumbel.")
        return name, config.samples, config
    raise ValueError(f"unknown method {method!r}; use {METHODS}.")


def solve(task: Task, problems: list[Problem], policy, method: str = "greedy", seed: int = 0,
          progress=None) -> list[Result]:
    name, n, config = parse_method(method)
    if name == "beam":
        found = beam_search(task, problems, policy, *config, seed=seed, progress=progress)
        return [Result(p, r.answer, r.solution, task.check_answer(p, r.answer), r.tokens, r.prompt_tokens)
                for p, r in zip(problems, found)]
    if isinstance(config, TextSearchConfig):
        found = search_text(task, problems, policy, config, seed, progress)
        return [Result(r.problem, r.answer, r.solution, task.check_answer(r.problem, r.answer), r.tokens,
                       r.prompt_tokens, [], r) for r in found]
    if name == "sample" and not task.checks_at_search_time:
        raise ValueError(f"sample:N counts a problem solved when any sample is right, which needs a checker "
                         f"without a reference answer; {task.name} has only references, so use vote:N.")
    if name == "best" and getattr(policy, "value_head", None) is None:
        raise ValueError(f"best:N ranks samples by the policy's value head; {policy.name} has none "
                         f"(expert iteration trains one).")
    samples = rollouts(task, problems, policy, n, 0.0 if name == "greedy" else 1.0, seed, progress=progress)
    if name == "best":  # each sample's finished text, valued by the head: one batched call
        flat = [(i, j) for i, rs in enumerate(samples) for j in range(len(rs))]
        values = policy.value([problems[i].prompt + samples[i][j].text for i, j in flat])
        ranked = {(i, j): float(v) for (i, j), v in zip(flat, values)}
    results = []
    for i, (problem, rs) in enumerate(zip(problems, samples)):
        tokens, prompt = sum(r.tokens for r in rs), sum(r.prompt_tokens for r in rs)
        if name == "vote":
            keys = [task.vote_key(problem, r.answer) for r in rs]
            counts = Counter(k for k in keys if k is not None)
            pick = keys.index(counts.most_common(1)[0][0]) if counts else 0
        elif name == "best":  # the answered sample the value head rates highest, checked only afterwards
            answered = [j for j, r in enumerate(rs) if r.answer is not None] or list(range(len(rs)))
            pick = max(answered, key=lambda j: ranked[(i, j)])
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
