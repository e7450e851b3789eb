"""Countdown: reach the target from the given numbers with + - * /, each number used at most
once (the TV game's rule; `exact=true` requires every number, as Stream of Search and TinyZero
do). Intermediate results are positive integers: subtract the smaller from the larger, divide
only when it goes exactly.

Prompt and solution (one step a line; the model writes `a op b` and the rules append `=c` and
the numbers still available in brackets, as a calculator with a memory would, so the model's
choices are the strategy and the arithmetic and the bookkeeping are the rules'):

    numbers: 25 5 4 7
    target: 80
    25-5=20 [4 7 20]
    20*4=80 [7 80]

A model that writes its own result (`25-5=20`) has it checked; brackets it writes are replaced
by the rules' own. Showing the numbers left is Stream of Search's "current state": a small model
then copies operands from the line above instead of tracking which numbers each step used up
(docs/LLM.md has the measured effect). The solution is right when a step
reaches the target. External models may instead end with a line `answer: (25-5)*4`, checked by
a whitelist parser in exact arithmetic with the same rule on numbers. Problems are generated
solvable only (`solve` proves it and finds a shortest solution); a fixed fifth of the targets is
held out, so evaluation measures generalisation rather than memory.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from functools import lru_cache

import numpy as np

from games.math.exact import ExprError, evaluate
from games.math.task import END, ILLEGAL, Problem, Step, Task, TaskError

_STEP = re.compile(r"^\s*(\d{1,7})\s*([-+*/])\s*(\d{1,7})\s*(?:=\s*(\d{0,9}))?\s*(?:\[[\d ]{0,80}\])?\s*$")
_ANSWER = re.compile(r"^\s*answer\s*:(.*)$", re.IGNORECASE)
HELDOUT_SHARE = 0.2


def apply(a: int, op: str, b: int) -> int | None:
    """The rules' result of `a op b`, or None where it is not a positive integer."""
    if op == "+":
        return a + b
    if op == "*":
        return a * b
    if op == "-":
        return a - b if a > b else None
    return a // b if b > 0 and a % b == 0 else None


@lru_cache(maxsize=200_000)
def _shortest(numbers: tuple[int, ...], target: int) -> tuple[tuple[int, str, int, int], ...] | None:
    """A shortest chain of steps (a, op, b, result) from the sorted `numbers` to `target`."""
    if target in numbers:
        return ()
    best = None
    for depth in range(1, len(numbers)):
        best = _search(numbers, target, depth)
        if best is not None:
            return best
    return None


def _search(numbers: tuple[int, ...], target: int, depth: int):
    if depth == 0:
        return None
    n = len(numbers)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            a, b = numbers[i], numbers[j]
            for op in "+-*/":
                if op in "+*" and i > j:
                    continue  # commutative: one order is enough
                c = apply(a, op, b)
                if c is None:
                    continue
                if c == target:
                    return ((a, op, b, c),)
                rest = tuple(sorted([numbers[k] for k in range(n) if k not in (i, j)] + [c]))
                found = _search(rest, target, depth - 1)
                if found is not None:
                    return ((a, op, b, c),) + found
    return None


def solve(numbers, target: int, exact: bool = False):
    """A shortest solution as (a, op, b, result) steps, or None. With `exact`, every number must
    be used (then every solution has len(numbers) - 1 steps)."""
    nums = tuple(sorted(int(x) for x in numbers))
    return _exact_search(nums, int(target)) if exact else _shortest(nums, int(target))


def _exact_search(numbers, target):
    """Every number used: chains of exactly len - 1 steps whose last result is the target."""
    if len(numbers) == 1:
        return () if numbers[0] == target else None
    n = len(numbers)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            for op in "+-*/":
                c = apply(numbers[i], op, numbers[j])
                if c is None:
                    continue
                rest = tuple(sorted([numbers[k] for k in range(n) if k not in (i, j)] + [c]))
                found = _exact_search(rest, target)
                if found is not None:
                    return ((numbers[i], op, numbers[j], c),) + found
    return None


class Countdown(Task):
    stop = ("=", "\n")
    checks_at_search_time = True

    def __init__(self, numbers: int = 4, low: int = 1, high: int = 100, target_low: int = 10,
                 target_high: int = 100, exact: bool = False, shaped: bool = False):
        if not 2 <= int(numbers) <= 6:
            raise TaskError(f"countdown takes 2 to 6 numbers, not {numbers}.")
        if not 1 <= low <= high or not 1 <= target_low <= target_high:
            raise TaskError("countdown's ranges need 1 <= low <= high and 1 <= target_low <= target_high.")
        self.count, self.low, self.high = int(numbers), int(low), int(high)
        self.target_low, self.target_high = int(target_low), int(target_high)
        self.exact, self.shaped = bool(exact), bool(shaped)
        self.max_steps = self.count - 1
        self.name = "countdown" if (numbers, low, high, target_low, target_high, exact) == (4, 1, 100, 10, 100, False) \
            else f"countdown(numbers={numbers},low={low},high={high},target_low={target_low}," \
                 f"target_high={target_high},exact={str(exact).lower()})"
        targets = np.arange(self.target_low, self.target_high + 1)
        held = np.random.default_rng(37).choice(targets, size=max(1, round(HELDOUT_SHARE * len(targets))), replace=False)
        self.heldout_targets = frozenset(int(t) for t in held)

    # ---- problems ----------------------------------------------------------------------------
    def make_problem(self, numbers, target: int, pid: str) -> Problem:
        nums = tuple(int(x) for x in numbers)
        prompt = f"numbers: {' '.join(map(str, nums))}\ntarget: {int(target)}\n"
        return Problem(pid, prompt, str(int(target)), nums, int(target))

    def problems(self, split: str = "train", n: int = 1000, seed: int = 0) -> list[Problem]:
        """`n` solvable problems, deterministic in (split, seed); held-out targets only in
        split "heldout", never in "train"."""
        if split not in ("train", "heldout"):
            raise TaskError(f"split must be train or heldout, not {split!r}.")
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        pool = [t for t in range(self.target_low, self.target_high + 1) if (t in self.heldout_targets) == (split == "heldout")]
        out = []
        while len(out) < n:
            numbers = rng.integers(self.low, self.high + 1, self.count)
            target = int(pool[rng.integers(len(pool))])
            if target in numbers or solve(numbers, target, self.exact) is None:
                continue
            out.append(self.make_problem(numbers, target, f"countdown-{split}-{seed}-{len(out)}"))
        return out

    # ---- rules -------------------------------------------------------------------------------
    def state(self, problem: Problem, solution: str):
        """(numbers still available, their expressions, steps taken, reached) after `solution`."""
        avail = list(problem.numbers)
        exprs = [str(x) for x in avail]
        steps, reached = 0, None
        for line in solution.splitlines():
            m = _STEP.match(line)
            if not m:
                continue
            a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
            i = avail.index(a)
            ea = exprs[i]
            del avail[i], exprs[i]
            j = avail.index(b)
            eb = exprs[j]
            del avail[j], exprs[j]
            c = apply(a, op, b)
            avail.append(c)
            exprs.append(f"{_wrap(ea)}{op}{_wrap(eb)}")
            steps += 1
            if c == problem.target and (not self.exact or len(avail) == 1):
                reached = exprs[-1]
        return avail, exprs, steps, reached

    def step(self, problem: Problem, solution: str, text: str) -> Step:
        body = text.rstrip("\n")
        if not body.strip():
            return END
        answer = _ANSWER.match(body)
        if answer:
            expr = answer.group(1).strip()
            return Step(True, f"answer: {expr}\n", f"answer:{expr}", True, expr)
        m = _STEP.match(body)
        if not m:
            return ILLEGAL
        a, op, b, written = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
        avail, _, steps, reached = self.state(problem, solution)
        if reached is not None or steps >= self.max_steps:
            return ILLEGAL
        left = Counter(avail)
        left[a] -= 1
        left[b] -= 1
        if left[a] < 0 or left[b] < 0:
            return ILLEGAL  # an operand not available (or used twice)
        c = apply(a, op, b)
        if c is None or (written and int(written) != c):
            return ILLEGAL  # not a positive integer, or the model's own result is wrong
        left[c] += 1
        rest = sorted(left.elements())
        shown = list(avail)  # the numbers left in the order they came: given ones, then results
        shown.remove(a)
        shown.remove(b)
        line = f"{a}{op}{b}={c} [{' '.join(map(str, shown + [c]))}]\n"
        done_target = c == problem.target and (not self.exact or len(rest) == 1)
        done = done_target or len(rest) == 1 or steps + 1 >= self.max_steps
        answer = self.state(problem, solution + line)[3] if done_target else None
        return Step(True, line, " ".join(map(str, rest)), done, answer)

    def check_answer(self, problem: Problem, answer: str | None) -> bool:
        """An expression over the given numbers (each at most as often as given; all of them
        with `exact`) whose exact value is the target."""
        if answer is None:
            return False
        try:
            v = evaluate(answer, unary_minus=False)
        except ExprError:
            return False
        used = Counter(v.leaves)
        given = Counter(Fraction(x) for x in problem.numbers)
        if any(used[x] > given[x] for x in used) or (self.exact and used != given):
            return False
        return v.value == problem.target

    def hindsight(self, problem: Problem, solution: str) -> list[tuple[Problem, str]]:
        """The problems this solution solves as far as it goes: for each step, the problem with
        the same numbers whose target is that step's result, and the solution up to that step
        (Hindsight Experience Replay's relabelling, with a chain of steps as the episode). Only
        targets the training split draws (in range, not held out, not a given number) count, and
        each once, at its shortest prefix: a wrong chain for 57 is a right one for its results."""
        out, lines, seen = [], solution.splitlines(keepends=True), set()
        for k in range(len(lines)):
            m = _STEP.match(lines[k])
            if not m:
                break
            c = apply(int(m.group(1)), m.group(2), int(m.group(3)))
            if (c is None or c in seen or not self.target_low <= c <= self.target_high or c in self.heldout_targets
                    or c in problem.numbers):
                continue
            seen.add(c)
            relabelled = self.make_problem(problem.numbers, c, f"{problem.id}-hindsight-{c}")
            prefix = "".join(lines[:k + 1])
            if self.check(relabelled, prefix):  # the rules agree that the prefix reaches it
                out.append((relabelled, prefix))
        return out

    def reward(self, problem: Problem, solution: str) -> float:
        """TinyZero's shaped reward (with `shaped=true`): 1 right, 0.1 well-formed but wrong, 0
        malformed; else 1 or 0."""
        answer = self.answer(problem, solution)
        if self.check_answer(problem, answer):
            return 1.0
        well_formed = all(_STEP.match(ln) or _ANSWER.match(ln) for ln in solution.splitlines() if ln.strip())
        return 0.1 if self.shaped and (answer is not None or well_formed) else 0.0

    def vote_key(self, problem: Problem, answer: str | None):
        try:
            return None if answer is None else evaluate(answer, unary_minus=False).value
        except ExprError:
            return None


def _wrap(expr: str) -> str:
    return expr if expr.isdigit() else f"({expr})"
