"""Countdown: generated problems are solvable (an independent brute force says so), held-out
targets never reach training problems, generation is deterministic by seed, and the step
checker accepts exactly the steps a brute-force enumerator accepts."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from games.math import make_task
from games.math.countdown import Countdown, solve


def reachable(numbers: tuple[int, ...]) -> dict[int, int]:
    """Every value reachable from `numbers` (each used at most once, positive integer
    intermediates), with the fewest steps: written as plainly as possible, by combining every
    pair of values from disjoint subsets."""
    best: dict[tuple, dict[int, int]] = {}
    idx = range(len(numbers))
    for size in range(1, len(numbers) + 1):
        for subset in itertools.combinations(idx, size):
            values: dict[int, int] = {numbers[subset[0]]: 0} if size == 1 else {}
            for k in range(1, size):
                for left in itertools.combinations(subset, k):
                    right = tuple(i for i in subset if i not in left)
                    for x, sx in best[left].items():
                        for y, sy in best[right].items():
                            for z in (x + y, x * y, x - y if x > y else None, x // y if x % y == 0 else None):
                                if z is not None and z > 0:
                                    steps = sx + sy + 1
                                    if steps < values.get(z, 99):
                                        values[z] = steps
            best[subset] = values
    out: dict[int, int] = {}
    for subset, values in best.items():
        for v, s in values.items():
            out[v] = min(out.get(v, 99), s)
    return out


def test_every_generated_problem_is_solvable_and_the_solver_finds_a_shortest_solution():
    task = make_task("countdown")
    lengths = Counter()
    for p in task.problems("train", 150, 3) + task.problems("heldout", 150, 3):
        found = reachable(p.numbers)
        assert p.target in found and p.target not in p.numbers
        steps = solve(p.numbers, p.target)
        assert len(steps) == found[p.target]  # shortest
        solution = "".join(f"{a}{op}{b}={c}\n" for a, op, b, c in steps)
        assert task.check(p, solution)
        lengths[len(steps)] += 1
    assert set(lengths) <= {1, 2, 3} and len(lengths) >= 2


def test_heldout_targets_never_appear_in_training_and_generation_is_deterministic():
    task = make_task("countdown")
    train = task.problems("train", 400, 0)
    held = task.problems("heldout", 200, 0)
    assert not {p.target for p in train} & task.heldout_targets
    assert {p.target for p in held} <= task.heldout_targets
    assert train == task.problems("train", 400, 0) and train != task.problems("train", 400, 1)
    assert len({p.id for p in train + held}) == 600


def test_exact_mode_needs_every_number():
    task = make_task("countdown(exact=true)")
    p = task.make_problem([3, 5, 2, 10], 16, "p")  # 3+5 would be 8; every number: (10-2)+(3+5)
    assert task.check(p, "10-2=8\n3+5=8\n8+8=16\n")
    assert not task.check(p, "3+5=8\n8*2=16\n")  # reaches 16 with 10 unused
    assert task.check_answer(p, "(10-2)+(3+5)") and not task.check_answer(p, "(3+5)*2")
    for q in task.problems("heldout", 30, 0):
        steps = solve(q.numbers, q.target, exact=True)
        assert len(steps) == 3 and task.check(q, "".join(f"{a}{o}{b}={c}\n" for a, o, b, c in steps))


def enumerate_legal(avail: list[int]) -> set[tuple[int, str, int]]:
    """Every legal step from the numbers available, by brute force."""
    out = set()
    for i, j in itertools.permutations(range(len(avail)), 2):
        a, b = avail[i], avail[j]
        for op in "+-*/":
            ok = {"+": True, "*": True, "-": a > b, "/": b > 0 and a % b == 0}[op]
            if ok:
                out.add((a, op, b))
    return out


@settings(max_examples=300, deadline=None)
@given(numbers=st.lists(st.integers(1, 30), min_size=2, max_size=5), a=st.integers(0, 40), b=st.integers(0, 40),
       op=st.sampled_from("+-*/"), written=st.one_of(st.none(), st.integers(0, 1300)),
       spaces=st.booleans())
def test_the_step_checker_accepts_exactly_what_brute_force_enumerates(numbers, a, b, op, written, spaces):
    task = Countdown(numbers=len(numbers), target_low=1000, target_high=1000)
    problem = task.make_problem(numbers, 1000, "p")
    text = f"{a} {op} {b}" if spaces else f"{a}{op}{b}"
    text += "=" if written is None else f"={written}"
    s = task.step(problem, "", text)
    legal = (a, op, b) in enumerate_legal(numbers)
    true = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else 0}[op]
    assert s.legal == (legal and (written is None or written == true))
    if s.legal:
        left = list(numbers)
        left.remove(a)
        left.remove(b)
        assert s.line == f"{a}{op}{b}={true} [{' '.join(map(str, left + [true]))}]\n"
        assert s.key == " ".join(map(str, sorted((Counter(numbers) - Counter([a, b]) + Counter([true])).elements())))


def test_steps_chain_to_the_target_and_compose_an_expression():
    task = make_task("countdown")
    p = task.make_problem([25, 5, 4, 7], 80, "p")
    s1 = task.step(p, "", "25-5=")
    s2 = task.step(p, s1.line, "20*4=")
    assert (s1.line, s1.key, s1.done) == ("25-5=20 [4 7 20]\n", "4 7 20", False)
    assert (s2.line, s2.done, s2.answer) == ("20*4=80 [7 80]\n", True, "(25-5)*4")
    assert task.step(p, s1.line, "20*4=80 [1 2 3]").line == s2.line  # the rules' brackets, not the model's
    assert task.step(p, s1.line, "25+4=").legal is False  # 25 was used up
    assert task.step(p, s1.line + s2.line, "7+1=").legal is False  # solved: nothing more
    assert task.step(p, "", "5+25=").key == task.step(p, "", "25+5=").key  # one child for both orders
    assert task.step(p, "", "").done and task.step(p, "", "").answer is None  # the model stopped
    assert task.check_answer(p, "(25-5)*4") and not task.check_answer(p, "(25-5)*4*1")
    assert not task.check_answer(p, "25*4-5*4") and not task.check_answer(p, "80")


def test_shaped_reward():
    task = make_task("countdown(shaped=true)")
    p = task.make_problem([25, 5, 4, 7], 80, "p")
    assert task.reward(p, "25-5=20\n20*4=80\n") == 1.0
    assert task.reward(p, "25-5=20\n20+4=24\n") == 0.1
    assert task.reward(p, "hello\n") == 0.0
    assert make_task("countdown").reward(p, "25-5=20\n20+4=24\n") == 0.0
