"""What a search found, in the terms people and Go GUIs use: the top root moves with their
visit shares, win rates, priors and principal variations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MoveInfo:
    action: int
    visits: int
    share: float  # of the root's child visits
    winrate: float  # for the player to move, in [0, 1]
    prior: float
    pv: list[int]  # principal variation starting with `action`


def top_moves(result, b: int = 0, k: int = 5) -> list[MoveInfo]:
    t = result.tree.tree
    visits = result.visit_counts[b]
    total = max(int(visits.sum()), 1)
    sgn = 1.0 if t.to_play[b, 0] == 0 else -1.0
    out = []
    for a in np.argsort(-visits, kind="stable")[:k]:
        if visits[a] == 0:
            break
        child = int(t.children[b, 0, a])
        q = sgn * (t.solved_value[b, child] if t.solved[b, child] else t.value_sum[b, child] / t.visits[b, child])
        out.append(MoveInfo(int(a), int(visits[a]), visits[a] / total, (q + 1) / 2, float(t.prior[b, 0, a]),
                            [int(a)] + principal_variation(t, b, child)))
    return out


def principal_variation(t, b: int, node: int, max_len: int = 12) -> list[int]:
    """Most visited children from `node` down."""
    pv = []
    while len(pv) < max_len and t.expanded[b, node]:
        kids = t.children[b, node]
        counts = np.where(kids >= 0, t.visits[b, np.maximum(kids, 0)], 0)
        if counts.max() <= 0:
            break
        a = int(np.argmax(counts))
        pv.append(a)
        node = int(kids[a])
    return pv
