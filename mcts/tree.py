"""The search tree: preallocated arrays for B trees of up to N nodes over A actions.

Node 0 of each tree is its root. Values are stored from player 0's point of view (so games
whose turns do not strictly alternate need no special case) and turned into the mover's
point of view where they are read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Tree:
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
        for name in ("visits", "value_sum", "raw_value", "prior", "legal", "children", "parent", "action",
                     "to_play", "expanded", "solved", "solved_value"):
            getattr(new, name)[:, : self.capacity] = getattr(self, name)
        for name in ("num_nodes", "gumbel", "considered", "sims_done"):
            getattr(new, name)[:] = getattr(self, name)
        return new

    def root_value(self) -> np.ndarray:
        """(B,) root values from the view of each root's player to move."""
        v0 = np.where(self.solved[:, 0], self.solved_value[:, 0], self.value_sum[:, 0] / np.maximum(self.visits[:, 0], 1))
        return np.where(self.to_play[:, 0] == 0, v0, -v0).astype(np.float32)

    def root_child_visits(self) -> np.ndarray:
        """(B, A) visit counts of the roots' children."""
        idx = self.children[:, 0, :]
        rows = np.arange(self.batch)[:, None]
        return np.where(idx >= 0, self.visits[rows, np.maximum(idx, 0)], 0).astype(np.int64)
