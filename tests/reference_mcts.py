"""A plain-Python MCTS over the State API, written from the formulas, to check the numba
search against: PUCT with AlphaZero's log-growing c, first-play urgency, the MCTS-solver
rule, and (one leaf at a time) the virtual loss the batched search applies on the way down.
"""

from __future__ import annotations

import math

import numpy as np


class Node:
    def __init__(self, state, parent=None):
        self.state = state
        self.parent = parent
        self.visits = 0
        self.value_sum = 0.0  # player 0's view
        self.children: dict[int, Node] = {}
        self.prior = None
        self.legal = None
        self.expanded = False
        self.solved = False
        self.solved_value = 0.0
        self.to_play = state.current_player()


def sign(player: int) -> float:
    return 1.0 if player == 0 else -1.0


def evaluate(node: Node, evaluator) -> float:
    """Expand a node; returns its value from player 0's view."""
    s = node.state
    node.expanded = True
    node.legal = s.legal_mask()
    if s.is_terminal():
        node.solved = True
        node.solved_value = float(s.returns()[0])
        node.prior = np.zeros(len(node.legal), np.float32)
        return node.solved_value
    p, v = evaluator.evaluate(s.observation()[None], node.legal[None], states=None)
    p = np.where(node.legal, p[0], 0).astype(np.float32)
    node.prior = (p / max(p.sum(), 1e-12)).astype(np.float32)
    return float(np.float32(v[0] if node.to_play == 0 else -v[0]))


def choose(node: Node, c_init: float, c_base: float, fpu_reduction: float) -> int:
    sgn = sign(node.to_play)
    n_parent = node.visits
    c = c_init + math.log((n_parent + c_base + 1.0) / c_base)
    sqrt_n = math.sqrt(n_parent)
    visited_prior = 0.0
    for a in range(len(node.prior)):
        ch = node.children.get(a)
        if ch is not None and ch.visits > 0:
            visited_prior += float(node.prior[a])
    fpu = sgn * node.value_sum / max(n_parent, 1) - fpu_reduction * math.sqrt(visited_prior)
    best, best_score = -1, -1e30
    for a in np.flatnonzero(node.legal):
        ch = node.children.get(int(a))
        if ch is not None and ch.visits > 0:
            n = ch.visits
            q = sgn * (ch.solved_value if ch.solved else ch.value_sum / ch.visits)
        else:
            n, q = 0, fpu
        score = q + c * float(node.prior[a]) * sqrt_n / (1.0 + n)
        if score > best_score:
            best, best_score = int(a), score
    return best


def try_solve(node: Node) -> bool:
    sgn = sign(node.to_play)
    values = []
    for a in np.flatnonzero(node.legal):
        ch = node.children.get(int(a))
        if ch is None or not ch.solved:
            values.append(None)
            continue
        v = sgn * ch.solved_value
        if v >= 1.0:
            node.solved, node.solved_value = True, ch.solved_value
            return True
        values.append(v)
    if values and None not in values:
        node.solved, node.solved_value = True, sgn * max(values)
        return True
    return False


def run(root_state, evaluator, num_simulations: int, c_init=1.25, c_base=19652.0, fpu_reduction=0.25) -> Node:
    root = Node(root_state.clone())
    root.value_sum = evaluate(root, evaluator)
    root.visits = 1
    for _ in range(num_simulations):
        if root.solved:
            break
        node = root
        node.visits += 1
        while not node.solved and node.expanded:
            a = choose(node, c_init, c_base, fpu_reduction)
            child = node.children.get(a)
            if child is None:
                child = node.children[a] = Node(node.state.child(a), node)
            child.visits += 1
            child.value_sum -= sign(node.to_play)  # virtual loss
            node = child
        value = node.solved_value if node.solved else evaluate(node, evaluator)
        just_solved = node.solved
        while node is not None:
            if node.parent is not None:
                node.value_sum += sign(node.parent.to_play)
            node.value_sum += value
            if just_solved and node.parent is not None and not node.parent.solved:
                just_solved = try_solve(node.parent)
            else:
                just_solved = False
            node = node.parent
    return root


def root_visits(root: Node, num_actions: int) -> np.ndarray:
    out = np.zeros(num_actions, np.int64)
    for a, ch in root.children.items():
        out[a] = ch.visits
    return out
