"""Language-model rollouts: many solutions advanced one step per round in lockstep, each step
one batched policy call, every step put through the task's rules. The harness's samples
(`move37 reason --method sample:N|vote:N`) and the reasoning search's leaf values both come from
here. The policy is anything with the protocol of engine/llm/policy.py."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from games.math.task import END, Problem, Task

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
    rejected: str | None = None  # the step text the rules refused, when one ended the rollout
    stopped: bool = False  # the model ended it with end-of-text, without an answer


def step_seed(seed: int, problem_id: str, sample: int, step: int) -> int:
    """A seed that depends on the problem, never on its batch-mates."""
    digest = hashlib.blake2b(f"{seed}:{problem_id}:{sample}:{step}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def rollouts(task: Task, problems: list[Problem], policy, n: int, temperature: float, seed: int = 0,
             max_step_tokens: int = 48, progress=None, starts: list[tuple[str, int]] | None = None) -> list[list[Rollout]]:
    """n solutions per problem, every live row advanced one step per round. `starts` gives each
    problem's partial solution and its step count to continue from (default: the empty one)."""
    starts = starts or [("", 0)] * len(problems)
    rows = [(i, j, Rollout(text=starts[i][0], steps=starts[i][1])) for i in range(len(problems)) for j in range(n)]
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
                    r.finished, r.legal, r.rejected = True, False, prop.text
                    continue
                r.stopped = step is END and prop.text == ""
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
