"""A plain-Python reasoning search, one problem and one leaf at a time, to check mcts/text.py
against. Its own step filtering, merging and priors (nothing imported from mcts/text.py); the
selection formulas are tests/reference_mcts.py's, written from the papers. Nodes are numbered in
the order they are made, as the kernels number them.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

import tests.reference_mcts as ref


def seed_of(seed: int, key: str, a: int, b: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{key}:{a}:{b}".encode(), digest_size=4).digest(), "little")


class TextNode(ref.Node):
    def __init__(self, ident: int, text: str, depth: int, parent=None, width: int = 0):
        self.id, self.text, self.depth, self.parent = ident, text, depth, parent
        self.visits, self.value_sum, self.raw_value = 0, 0.0, 0.0
        self.children: dict[int, TextNode] = {}
        self.prior, self.legal = np.zeros(width, np.float32), np.zeros(width, bool)
        self.expanded, self.solved, self.solved_value, self.to_play = False, False, 0.0, 0
        self.steps: list[dict] = []  # child slots: line, key, done, answer, count, logprob
        self.answer = None


class Reference:
    def __init__(self, task, problem, policy, budget, samples=8, algorithm="gumbel", seed=0, temperature=1.0,
                 rollout=True, max_step_tokens=48, c_visit=50.0, c_scale=1.0, max_considered=16):
        self.task, self.problem, self.policy, self.budget, self.k = task, problem, policy, budget, samples
        self.algorithm, self.seed, self.temperature, self.rollout = algorithm, seed, temperature, rollout
        self.max_step_tokens, self.c_visit, self.c_scale, self.max_considered = max_step_tokens, c_visit, c_scale, max_considered
        self.tokens = self.prompt_tokens = 0
        self.found = None
        self.nodes: list[TextNode] = []

    def node(self, text, depth, parent=None) -> TextNode:
        n = TextNode(len(self.nodes), text, depth, parent, self.k)
        self.nodes.append(n)
        return n

    def judge(self, answer, text) -> float:
        if not self.task.checks_at_search_time:
            return 0.0
        if self.task.check_answer(self.problem, answer):
            self.found = self.found or (text, answer)
            return 1.0
        return -1.0

    def expand(self, node: TextNode) -> float:
        """Sample k steps, keep the legal ones merged by key, set priors; value by rollout."""
        node.expanded = True
        seed = seed_of(self.seed, self.problem.id + "#tree", node.id, 0)
        (cands,) = self.policy.propose([self.problem.prompt + node.text], self.k, self.task.stop, [seed],
                                       self.temperature, self.max_step_tokens)
        self.prompt_tokens += cands.prompt_tokens
        for p in cands.proposals:
            self.tokens += p.tokens
            if p.text != "" and not any(p.text.endswith(s) for s in self.task.stop):
                continue  # cut off before its end
            s = self.task.step(self.problem, node.text, p.text)
            if not s.legal:
                continue
            same = [d for d in node.steps if d["key"] == s.key]
            if same:
                same[0]["count"] += 1
            else:
                node.steps.append({"line": s.line, "key": s.key, "done": s.done, "answer": s.answer, "count": 1,
                                   "logprob": p.logprob})
        if not node.steps:
            node.solved, node.solved_value, node.answer = True, -1.0, None
            return -1.0
        weights = [d["count"] * math.exp((1 - 1 / self.temperature) * d["logprob"]) for d in node.steps]
        for a, w in enumerate(weights):
            node.prior[a] = w / sum(weights)
            node.legal[a] = True
        if self.task.checks_at_search_time:
            right = [d for d in node.steps if d["done"] and self.task.check_answer(self.problem, d["answer"])]
            if right:  # a sampled step ends right: solved on expansion
                self.found = self.found or (node.text + right[0]["line"], right[0]["answer"])
                node.solved, node.solved_value = True, 1.0
                return 1.0
        if not self.rollout:
            return 0.0
        text, steps = node.text, node.depth
        while True:  # a greedy rollout to a final answer
            (c,) = self.policy.propose([self.problem.prompt + text], 1, self.task.stop, [0], 0.0, self.max_step_tokens)
            (p,) = c.proposals
            self.tokens += p.tokens
            self.prompt_tokens += c.prompt_tokens
            if p.text != "" and not any(p.text.endswith(s) for s in self.task.stop):
                return -1.0
            s = self.task.step(self.problem, text, p.text)
            if not s.legal:
                return -1.0
            text, steps = text + s.line, steps + 1
            if s.done or steps >= self.task.max_steps:
                return self.judge(s.answer, text)

    def evaluate(self, node: TextNode) -> float:
        slot = node.parent.steps[node.action]
        node.text, node.depth = node.parent.text + slot["line"], node.parent.depth + 1
        if slot["done"] or node.depth >= self.task.max_steps:
            node.expanded, node.solved = True, True
            node.answer = slot["answer"] if slot["done"] else None
            node.solved_value = self.judge(slot["answer"], node.text) if slot["done"] else -1.0
            node.raw_value = node.solved_value
            return node.solved_value
        node.raw_value = self.expand(node)
        return node.raw_value

    def run(self) -> TextNode:
        root = self.node("", 0)
        root.raw_value = root.value_sum = self.expand(root)
        root.visits = 1
        cost = max(self.tokens, 1)
        planned = max(1, (self.budget - cost) // cost) if self.algorithm == "gumbel" else self.budget
        g = np.zeros(self.k)
        if self.algorithm == "gumbel":
            rng = np.random.default_rng(seed_of(self.seed, self.problem.id + "#gumbel", 0, 0))
            g = np.where(root.legal, rng.gumbel(size=self.k).astype(np.float32), 0).astype(np.float32).astype(np.float64)
        schedule = ref.considered_visits(min(int(root.legal.sum()), self.max_considered), planned)
        done = 0
        while self.found is None and self.tokens < self.budget and done < planned and not root.solved:
            node = root
            node.visits += 1
            while not node.solved:
                if self.algorithm == "gumbel" and node is root:
                    scores = ref.gumbel_root(root, g, schedule[min(done, len(schedule) - 1)], self.c_visit, self.c_scale)
                    a = int(np.argmax(scores))
                    if scores[a] <= ref.NEG_INF:
                        a = ref.gumbel_inner(node, self.c_visit, self.c_scale)
                elif self.algorithm == "gumbel":
                    a = ref.gumbel_inner(node, self.c_visit, self.c_scale)
                else:
                    a = ref.choose(node, 1.25, 19652.0, 0.25)
                child = node.children.get(a)
                fresh = child is None
                if fresh:
                    child = node.children[a] = self.node("", 0, node)
                    child.action = a
                child.visits += 1
                child.value_sum -= 1.0  # virtual loss (one player: player 0 moves everywhere)
                node = child
                if fresh:
                    break
            value = node.solved_value if node.solved else self.evaluate(node)
            just_solved = node.solved
            while node is not None:
                if node.parent is not None:
                    node.value_sum += 1.0
                node.value_sum += value
                if just_solved and node.parent is not None and not node.parent.solved:
                    just_solved = ref.try_solve(node.parent)
                else:
                    just_solved = False
                node = node.parent
            done += 1
        return root
