"""Step-level beam search (engine/llm/beam.py), the baseline the tree search is compared with:
it keeps the W likeliest partial solutions, charges every sample, stops at a checked solution,
and a problem's result does not depend on its batch."""

from __future__ import annotations

from engine.llm.beam import beam_search
from engine.llm.policy import Candidates, Proposal, Usage
from engine.llm.solve import parse_method, solve
from games.math import make_task
from tests.fake_policy import FakePolicy


class Scripted:
    """Proposes fixed Countdown steps with fixed log-probabilities, whatever the seed."""

    name = "scripted"

    def __init__(self, table):
        self.table, self.usage = table, Usage()

    def propose(self, prefixes, k, stop, seeds, temperature=1.0, max_tokens=32):
        out = []
        for prefix in prefixes:
            last = prefix.splitlines()[-1] if prefix.count("\n") > 2 else ""
            steps = self.table.get(last.split("=")[0] if last else "", [("", -5.0)])
            props = [Proposal(t, lp, 3) for t, lp in (steps * k)[:k]]
            out.append(Candidates(props, 1))
            self.usage.add(3 * k, 1)
        return out


def test_the_likeliest_beams_go_on_and_a_checked_solution_ends_the_search():
    task = make_task("countdown")
    p = task.make_problem([25, 5, 4, 7], 80, "p")
    table = {"": [("25-5=", -1.0), ("4+7=", -0.5), ("7-4=", -3.0)],
             "25-5": [("20*4=", -1.0)], "4+7": [("25-11=", -0.1)], "25-11": [("14+5=", -0.1)]}
    (one,) = beam_search(task, [p], Scripted(table), width=1, samples=3)
    assert not one.found and one.solution.startswith("4+7=")  # greedy by log-probability: the wrong branch
    (two,) = beam_search(task, [p], Scripted(table), width=2, samples=3)
    assert two.found and two.solution == "25-5=20 [4 7 20]\n20*4=80 [7 80]\n" and task.check(p, two.solution)
    assert two.tokens == 3 * 3 * 3  # round 1: one beam; round 2: two beams; every sample charged


def test_every_sample_is_charged_and_a_problem_is_the_same_alone_and_in_a_batch():
    task = make_task("countdown")
    problems = task.problems("heldout", 8, 3)
    policy = FakePolicy()
    batch = solve(task, problems, policy, "beam:3,4", seed=2)
    assert sum(r.tokens for r in batch) == policy.usage.generated
    alone = solve(task, problems[5:6], FakePolicy(), "beam:3,4", seed=2)[0]
    assert (alone.solution, alone.tokens) == (batch[5].solution, batch[5].tokens)
    for problem, r in zip(problems, batch):
        assert r.correct == task.check(problem, r.solution)
    assert parse_method("beam:3,4")[:2] == ("beam", 12)
