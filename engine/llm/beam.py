"""Step-level beam search, the baseline a tree search must beat at equal tokens
(`move37 reason --method beam:W,K`): each round every one of a problem's W partial solutions
samples K next steps; the legal, distinct ones (merged by the task's key) are ranked by the sum
of their steps' log-probabilities and the best W go on. Finished solutions are set aside; with a
checker at search time the first right one ends the problem, otherwise the answer is the
finished solution with the highest log-probability. Every sample is charged. Many problems in
lockstep: one policy call a round for every beam of every problem."""

from __future__ import annotations

from dataclasses import dataclass, field

from games.math.task import Problem, Task
from mcts.rollout import ROWS_PER_CALL, step_seed
from mcts.text import distinct_steps


@dataclass
class Beam:
    text: str = ""
    steps: int = 0
    logprob: float = 0.0


@dataclass
class BeamResult:
    answer: str | None = None
    solution: str = ""
    tokens: int = 0
    prompt_tokens: int = 0
    finished: list[tuple[float, str, str | None]] = field(default_factory=list)  # (logprob, text, answer)
    found: bool = False


def beam_search(task: Task, problems: list[Problem], policy, width: int, samples: int, seed: int = 0,
                max_step_tokens: int = 48, progress=None) -> list[BeamResult]:
    results = [BeamResult() for _ in problems]
    beams = [[Beam()] for _ in problems]
    for depth in range(task.max_steps):
        rows = [(i, j, b) for i, bs in enumerate(beams) if not results[i].found for j, b in enumerate(bs)]
        if not rows:
            break
        grown: list[list[tuple[float, str, bool, str | None, str]]] = [[] for _ in problems]
        per_call = max(1, ROWS_PER_CALL // samples)
        for start in range(0, len(rows), per_call):
            chunk = rows[start:start + per_call]
            prefixes = [problems[i].prompt + b.text for i, _, b in chunk]
            seeds = [step_seed(seed, problems[i].id + "#beam", j, depth) for i, j, _ in chunk]
            out = policy.propose(prefixes, samples, task.stop, seeds, 1.0, max_step_tokens)
            for (i, _, b), cands in zip(chunk, out):
                results[i].tokens += sum(p.tokens for p in cands.proposals)
                results[i].prompt_tokens += cands.prompt_tokens
                slots, _ = distinct_steps(task, problems[i], b.text, cands.proposals, 1.0, "empirical")
                for s in slots:
                    grown[i].append((b.logprob + s.logprob, b.text + s.line, s.done, s.answer, s.key))
        for i, candidates in enumerate(grown):
            if results[i].found:
                continue
            kept = []
            for logprob, text, done, answer, _ in sorted(candidates, key=lambda c: -c[0]):
                if done or depth + 1 >= task.max_steps:
                    results[i].finished.append((logprob, text, answer))
                    if task.checks_at_search_time and task.check_answer(problems[i], answer):
                        results[i].found = True
                        results[i].solution, results[i].answer = text, answer
                        break
                elif len(kept) < width:
                    kept.append(Beam(text, depth + 1, logprob))
            beams[i] = kept
        if progress:
            progress(sum(r.found or not b for r, b in zip(results, beams)), len(problems))
    for r in results:
        if not r.found and r.finished:
            _, r.solution, r.answer = max(r.finished, key=lambda f: f[0])
    return results
