"""The reasoning search (mcts/text.py) against the plain reference in
tests/reference_text_search.py, on a fake policy that is a pure function of its prefix: the
whole tree (texts, priors, visits, values, token counts) is the same; illegal steps never enter
it; every token is charged; a problem's tree is the same alone and in a batch."""

from __future__ import annotations

import numpy as np
import pytest

from games.math import make_task
from mcts import TextSearchConfig, render_tree, search_text
from mcts.text import distinct_steps
from tests.fake_policy import FakePolicy
from tests.reference_text_search import Reference


def tree_rows(result):
    """Every node of the driver's tree, by node number: (text, visits, value sum, priors, legal,
    children, solved)."""
    t, b = result.tree, result.index
    tree = t.tree
    return [(t.text[b][n], int(tree.visits[b, n]), float(tree.value_sum[b, n]), tree.prior[b, n].tolist(),
             tree.legal[b, n].tolist(), tree.children[b, n].tolist(), bool(tree.solved[b, n]))
            for n in range(int(tree.num_nodes[b]))]


def reference_rows(nodes, width):
    rows = []
    for n in nodes:
        kids = [-1] * width
        for a, ch in n.children.items():
            kids[a] = ch.id
        rows.append((n.text, n.visits, n.value_sum, n.prior.tolist(), n.legal.tolist(), kids, n.solved))
    return rows


@pytest.mark.parametrize("algorithm, budget, temperature", [("gumbel", 600, 1.0), ("puct", 400, 1.0),
                                                              ("gumbel", 1500, 0.7), ("puct", 900, 1.3)])
def test_the_tree_equals_the_reference(algorithm, budget, temperature):
    task = make_task("countdown")
    problems = task.problems("heldout", 6, 0)
    config = TextSearchConfig(algorithm=algorithm, budget=budget, temperature=temperature)
    results = search_text(task, problems, FakePolicy(), config, seed=5)
    compared = 0
    for problem, result in zip(problems, results):
        ref = Reference(task, problem, FakePolicy(), budget, algorithm=algorithm, seed=5, temperature=temperature)
        ref.run()
        got, want = tree_rows(result), reference_rows(ref.nodes, config.samples)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert (g[0], g[1], g[4], g[5], g[6]) == (w[0], w[1], w[4], w[5], w[6])
            assert g[2] == pytest.approx(w[2], abs=1e-9) and g[3] == pytest.approx(w[3], abs=1e-6)
        assert (result.tokens, result.prompt_tokens) == (ref.tokens, ref.prompt_tokens)
        assert result.found == (ref.found is not None)
        if ref.found:
            assert (result.solution, result.answer) == ref.found
        compared += len(got)
    assert compared > 30  # trees of some size, not roots alone
    assert any(r.found for r in results) and not all(r.found for r in results)


def test_illegal_steps_never_enter_and_every_token_is_charged():
    task = make_task("countdown")
    problems = task.problems("heldout", 8, 1)
    policy = FakePolicy(junk=0.3)
    results = search_text(task, problems, policy, TextSearchConfig(budget=500), seed=1)
    assert sum(r.tokens for r in results) == policy.usage.generated
    assert sum(r.prompt_tokens for r in results) == policy.usage.prompt
    for problem, r in zip(problems, results):
        t, b = r.tree, r.index
        for node, text in t.text[b].items():
            done, _, steps = task.replay(problem, text)
            assert steps == len(text.splitlines())  # every line of every node is a legal step
        for node, slots in t.slots[b].items():
            assert len({s.key for s in slots}) == len(slots)  # merged by key
        if r.found:
            assert task.check(problem, r.solution) and task.check_answer(problem, r.answer)
        assert r.tokens < 500 + 8 * 48 + 3 * 48  # stops at the budget, the expansion in flight at most past it


def test_a_problems_tree_is_the_same_alone_and_in_a_batch():
    task = make_task("countdown")
    problems = task.problems("heldout", 10, 2)
    config = TextSearchConfig(budget=700)
    batch = search_text(task, problems, FakePolicy(), config, seed=3)
    alone = search_text(task, problems[4:5], FakePolicy(), config, seed=3)[0]
    assert tree_rows(alone) == tree_rows(batch[4])
    assert (alone.tokens, alone.answer) == (batch[4].tokens, batch[4].answer)


def test_priors_are_the_sampled_share_not_pi_renormalised():
    task = make_task("countdown")
    problem = task.make_problem([25, 5, 4, 7], 80, "p")

    class P:
        def __init__(self, text, logprob):
            self.text, self.logprob, self.tokens = text, logprob, 3

    props = [P("25-5=", -1.0), P("4+7=", -2.0), P("7+4=", -2.5), P("25-5=", -1.0), P("5-25=", -1.0), P("4*", -1.0)]
    slots, priors = distinct_steps(task, problem, "", props, 1.0, "empirical")
    assert [s.line for s in slots] == ["25-5=20 [4 7 20]\n", "4+7=11 [25 5 11]\n"]  # 5-25 illegal, "4*" cut off
    assert [s.count for s in slots] == [2, 2] and priors.tolist() == pytest.approx([0.5, 0.5])
    _, renorm = distinct_steps(task, problem, "", props, 1.0, "renormalised")
    assert renorm.tolist() == pytest.approx([1 / (1 + np.exp(-1.0)), np.exp(-1.0) / (1 + np.exp(-1.0))])
    _, hot = distinct_steps(task, problem, "", props, 2.0, "empirical")  # pi / beta ~ pi^(1/2)
    w = np.array([2 * np.exp(-0.5), 2 * np.exp(-1.0)])
    assert hot.tolist() == pytest.approx((w / w.sum()).tolist())


def test_without_a_checker_at_search_time_terminals_are_not_judged():
    task = make_task("arith")
    problems = task.problems("heldout", 3, 0)

    class Answering(FakePolicy):
        def step(self, prefix, seed, j):
            from engine.llm.policy import Proposal

            value = 1000 + (hash((prefix, seed, j)) % 3 if seed else 0)
            return Proposal(f"answer: {value}\n", -1.0, 4)

    for answer in ("visits", "vote"):
        results = search_text(task, problems, Answering(), TextSearchConfig(budget=80, answer=answer), seed=0)
        for r in results:
            tree = r.tree.tree
            assert not r.found and r.answer is not None and r.answer.startswith("1")
            assert np.all(tree.value_sum[r.index, :tree.num_nodes[r.index]] == 0)  # no value was ever 1 or -1


def test_render_tree_shows_steps_visits_values_and_priors():
    task = make_task("countdown")
    results = search_text(task, task.problems("heldout", 6, 0), FakePolicy(), TextSearchConfig(budget=400), seed=0)
    r = next(x for x in results if x.nodes >= 3)
    text = render_tree(r)
    assert text.splitlines()[0].startswith(f"{r.problem.id}:") and "N=" in text and "P=" in text
    assert len(text.splitlines()) >= 3


def test_bad_search_settings_are_one_sentence():
    for kwargs, fragment in [({"algorithm": "beam"}, "puct or gumbel"), ({"budget": 0}, "at least 1"),
                             ({"priors": "flat"}, "empirical or renormalised"), ({"temperature": 0}, "above 0")]:
        with pytest.raises(ValueError, match=fragment):
            TextSearchConfig(**kwargs)


def test_leaf_values_come_from_the_value_head_where_the_policy_has_one():
    """With a head, no rollout is run and every expanded leaf's value is the head's."""
    task = make_task("countdown")
    problems = task.problems("heldout", 3, 0)

    class WithHead(FakePolicy):
        value_head = object()

        def __init__(self):
            super().__init__(end=0.0, junk=0.0)
            self.asked, self.greedy_calls = [], 0

        def value(self, prefixes):
            self.asked += prefixes
            return np.array([0.25 if p.count("\n") == 2 else -0.5 for p in prefixes], np.float32)

        def encode(self, text):
            return list(text)

        def propose(self, prefixes, k, stop, seeds, temperature=1.0, max_tokens=32):
            self.greedy_calls += temperature == 0
            return super().propose(prefixes, k, stop, seeds, temperature, max_tokens)

    policy = WithHead()
    results = search_text(task, problems, policy, TextSearchConfig(algorithm="puct", budget=300), seed=0)
    assert policy.greedy_calls == 0  # no rollouts
    expanded = roots = 0
    for r in results:
        tree, b = r.tree.tree, r.index
        if not tree.solved[b, 0]:  # (a root can be solved on expansion, by a sampled step that ends right)
            assert tree.raw_value[b, 0] == pytest.approx(0.25)  # the root: its prefix is the prompt alone
            roots += 1
        inner = [n for n in range(1, tree.num_nodes[b]) if tree.expanded[b, n] and not tree.solved[b, n]]
        assert all(tree.raw_value[b, n] == pytest.approx(-0.5) for n in inner)
        expanded += len(inner)
    assert roots and expanded and len(policy.asked) == roots + expanded  # one value per leaf valued
    with pytest.raises(ValueError, match="value=head needs a policy with a value head"):
        search_text(task, problems, FakePolicy(), TextSearchConfig(value="head"))


def test_best_of_n_takes_the_answered_sample_the_value_head_rates_highest():
    from engine.llm.solve import solve

    task = make_task("countdown")
    problems = task.problems("heldout", 6, 0)

    class Rated(FakePolicy):
        value_head = object()

        def value(self, prefixes):  # longer solutions rated higher, ties to the first
            return np.array([p.count("\n") + len(p) * 1e-4 for p in prefixes], np.float32)

    picked_answered = 0
    for r in solve(task, problems, Rated(end=0.0), "best:6", seed=1):
        pool = [s for s in r.samples if s.answer is not None] or r.samples
        best = max(pool, key=lambda s: s.text.count("\n") + len(r.problem.prompt + s.text) * 1e-4)
        assert r.solution == best.text and r.correct == task.check_answer(r.problem, best.answer)
        picked_answered += best.answer is not None
    assert picked_answered >= 1  # some problem had an answered sample to prefer
    with pytest.raises(ValueError, match="best:N ranks samples by the policy's value head"):
        solve(task, problems, FakePolicy(), "best:4")
