"""`arith`: multi-step, multi-digit arithmetic where the model computes every step itself and
only the checker knows the answer (the setting of GSM8K and MATH: search and voting fight
arithmetic slips, not a choice of strategy).

    compute: 37+48*21-15
    48*21=1008
    37+1008=1045
    1045-15=1030
    answer: 1030

A step is well-formed (`a op b=c`, or the final `answer: N`); whether it is right is for the
checker alone, so the search never learns the answer from the rules.
"""

from __future__ import annotations

import re

import numpy as np

from games.math.answers import equivalent, numeric
from games.math.task import END, ILLEGAL, Problem, Step, Task, TaskError

_STEP = re.compile(r"^\s*(-?\d{1,12})\s*([-+*])\s*(-?\d{1,12})\s*=\s*(-?\d{1,14})\s*$")
_ANSWER = re.compile(r"^\s*answer\s*:\s*(.{1,60})$", re.IGNORECASE)
_PRECEDENCE = {"+": 0, "-": 0, "*": 1}


def trace(numbers: list[int], ops: list[str]) -> tuple[list[str], int]:
    """The step lines that evaluate `n0 op0 n1 op1 n2 ...` (multiplication first, then left to
    right, the leftmost of the highest precedence each time) and the value."""
    nums, ops, lines = list(numbers), list(ops), []
    while ops:
        top = max(_PRECEDENCE[o] for o in ops)
        i = next(k for k, o in enumerate(ops) if _PRECEDENCE[o] == top)
        a, b, op = nums[i], nums[i + 1], ops[i]
        c = a + b if op == "+" else a - b if op == "-" else a * b
        lines.append(f"{a}{op}{b}={c}")
        nums[i: i + 2] = [c]
        del ops[i]
    return lines, nums[0]


class Arith(Task):
    checks_at_search_time = False

    def __init__(self, ops: int = 3, digits: int = 2):
        if not 1 <= int(ops) <= 8 or not 1 <= int(digits) <= 4:
            raise TaskError("arith takes 1 to 8 ops and 1 to 4 digits.")
        self.ops, self.digits = int(ops), int(digits)
        self.max_steps = self.ops + 1
        self.name = "arith" if (self.ops, self.digits) == (3, 2) else f"arith(ops={self.ops},digits={self.digits})"

    def sample(self, rng: np.random.Generator) -> tuple[list[int], list[str]]:
        lo, hi = 10 ** (self.digits - 1) if self.digits > 1 else 1, 10 ** self.digits - 1
        numbers = [int(x) for x in rng.integers(lo, hi + 1, self.ops + 1)]
        ops = [str(o) for o in rng.choice(["+", "-", "*"], self.ops, p=[0.4, 0.3, 0.3])]
        return numbers, ops

    def problems(self, split: str = "train", n: int = 1000, seed: int = 0) -> list[Problem]:
        if split not in ("train", "heldout"):
            raise TaskError(f"split must be train or heldout, not {split!r}.")
        rng = np.random.default_rng([seed, 2 if split == "train" else 3])
        out = []
        for i in range(n):
            numbers, ops = self.sample(rng)
            text = "".join(f"{x}{o}" for x, o in zip(numbers, ops)) + str(numbers[-1])
            _, value = trace(numbers, ops)
            out.append(Problem(f"arith-{split}-{seed}-{i}", f"compute: {text}\n", str(value),
                               meta={"numbers": numbers, "ops": ops}))
        return out

    def step(self, problem: Problem, solution: str, text: str) -> Step:
        body = text.rstrip("\n")
        if not body.strip():
            return END
        steps = sum(1 for ln in solution.splitlines() if ln.strip())
        m = _ANSWER.match(body)
        if m:
            answer = m.group(1).strip()
            return Step(True, f"answer: {answer}\n", f"answer:{numeric(answer)}", True, answer)
        if steps >= self.max_steps - 1 or not _STEP.match(body):
            return ILLEGAL
        line = re.sub(r"\s+", "", body)
        return Step(True, line + "\n", line, False, None)

    def check_answer(self, problem: Problem, answer: str | None) -> bool:
        return equivalent(answer, problem.reference)

    def vote_key(self, problem: Problem, answer: str | None):
        return None if answer is None else numeric(answer)
