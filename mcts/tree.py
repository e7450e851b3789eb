"""The search tree: preallocated arrays for B trees of up to N nodes over A actions.

Node 0 of each tree is its root. Values are stored from player 0's point of view (so games
whose turns do not strictly alternate need no special case) and turned into the mover's
point of view where they are read.

`Tree` is a NamedTuple so the numba kernels take it as one argument (as mctx passes its
`Tree`): an array cannot be handed to the wrong parameter, and the kernels stay plain Python
under `NUMBA_DISABLE_JIT`. The arrays are mutated in place; the tuple itself never changes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


PER_TREE = ("num_nodes", "gumbel", "considered", "sims_done")  # the fields not indexed by node


class Tree(NamedTuple):
    visits: np.ndarray  # (B, N) int32, including virtual visits of leaves in flight
    value_sum: np.ndarray  # (B, N) float64, player 0's view
    raw_value: np.ndarray  # (B, N) float32, the evaluator's value at expansion, player 0's view
    prior: np.ndarray  # (B, N, A) float32, priors of a node's children (0 where illegal)
    legal: np.ndarray  # (B, N, A) bool
    children: np.ndarray  # (B, N, A) int32, -1 where not created
    parent: np.ndarray  # (B, N) int32, -1 at the root
    action: np.ndarray  # (B, N) int32, the action leading to the node
    to_play: np.ndarray  # (B, N) int8, player to move at the node
    expanded: np.ndarray  # (B, N) bool
    solved: np.ndarray  # (B, N) bool: exact value known (terminal, or proven by the solver)
    solved_value: np.ndarray  # (B, N) float32, player 0's view
    num_nodes: np.ndarray  # (B,) int32
    gumbel: np.ndarray  # (B, A) float32, root Gumbel noise (zero when not sampling)
    considered: np.ndarray  # (B,) int32, number of root actions Gumbel search considers
    sims_done: np.ndarray  # (B,) int32, simulations completed in the current search

    @property
    def batch(self) -> int:
        return self.visits.shape[0]

    @property
    def capacity(self) -> int:
        return self.visits.shape[1]

    @property
    def num_actions(self) -> int:
        return self.prior.shape[2]

    @classmethod
    def empty(cls, batch: int, capacity: int, num_actions: int) -> "Tree":
        b, n, a = batch, capacity, num_actions
        return cls(
            visits=np.zeros((b, n), np.int32),
            value_sum=np.zeros((b, n), np.float64),
            raw_value=np.zeros((b, n), np.float32),
            prior=np.zeros((b, n, a), np.float32),
            legal=np.zeros((b, n, a), np.bool_),
            children=np.full((b, n, a), -1, np.int32),
            parent=np.full((b, n), -1, np.int32),
            action=np.full((b, n), -1, np.int32),
            to_play=np.zeros((b, n), np.int8),
            expanded=np.zeros((b, n), np.bool_),
            solved=np.zeros((b, n), np.bool_),
            solved_value=np.zeros((b, n), np.float32),
            num_nodes=np.zeros(b, np.int32),
            gumbel=np.zeros((b, a), np.float32),
            considered=np.zeros(b, np.int32),
            sims_done=np.zeros(b, np.int32),
        )

    def grown(self, capacity: int) -> "Tree":
        """A copy with room for `capacity` nodes per tree."""
        if capacity <= self.capacity:
            return self
        new = Tree.empty(self.batch, capacity, self.num_actions)
        for name in self._fields:
            old, arr = getattr(self, name), getattr(new, name)
            if name in PER_TREE:
                arr[:] = old
            else:
                arr[:, : self.capacity] = old
        return new

    def rows(self, rows: np.ndarray) -> "Tree":
        """The trees at `rows` (a fancy-index copy)."""
        return Tree(*(arr[rows] for arr in self))

    def root_value(self) -> np.ndarray:
        """(B,) root values from the view of each root's player to move."""
        v0 = np.where(self.solved[:, 0], self.solved_value[:, 0], self.value_sum[:, 0] / np.maximum(self.visits[:, 0], 1))
        return np.where(self.to_play[:, 0] == 0, v0, -v0).astype(np.float32)

    def root_child_visits(self) -> np.ndarray:
        """(B, A) visit counts of the roots' children."""
        idx = self.children[:, 0, :]
        rows = np.arange(self.batch)[:, None]
        return np.where(idx >= 0, self.visits[rows, np.maximum(idx, 0)], 0).astype(np.int64)


class Wave(NamedTuple):
    """The leaves one `select` call picked: K slots per tree."""

    kind: np.ndarray  # (B, K) int64: EXPAND, KNOWN, COLLISION or IDLE (mcts/kernels.py)
    node: np.ndarray  # (B, K) int64, the leaf's node (-1 unless EXPAND or KNOWN)

    @classmethod
    def empty(cls, batch: int, leaves: int) -> "Wave":
        return cls(np.empty((batch, leaves), np.int64), np.empty((batch, leaves), np.int64))


class Expansion(NamedTuple):
    """What the driver found for the wave's EXPAND leaves, one row per leaf."""

    index: np.ndarray  # (B, K) int64, the row of leaf (b, k) below (-1 for other kinds)
    priors: np.ndarray  # (n, A) float32, normalised over legal actions (zero at terminals)
    legal: np.ndarray  # (n, A) bool
    to_play: np.ndarray  # (n,) int8
    terminal: np.ndarray  # (n,) bool
    value: np.ndarray  # (n,) float32, player 0's view: the evaluator's, or the exact result at terminals
