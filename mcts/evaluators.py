"""Evaluators: what the search asks for at each new leaf.

Protocol: `evaluate(observations (N,C,H,W) float32, legal_masks (N,A) bool, states=None) ->
(priors (N,A) float32, values (N,) float32 in [-1, 1], from the view of the player to move)`.
`states` are the leaves' states (a 2-D array of native states, or a list of State objects);
evaluators that only read observations ignore them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from games.native import NativeGame, TO_PLAY


class Evaluator(Protocol):
    def evaluate(self, observations: np.ndarray, legal_masks: np.ndarray, states=None) -> tuple[np.ndarray, np.ndarray]:
        ...


def uniform_priors(legal_masks: np.ndarray) -> np.ndarray:
    """Equal weight on every legal move (the search normalises priors over legal moves)."""
    return legal_masks.astype(np.float32)


class UniformEvaluator:
    """Uniform priors over legal moves and value 0: search guided by nothing but the rules."""

    def evaluate(self, observations, legal_masks, states=None):
        return uniform_priors(legal_masks), np.zeros(len(legal_masks), np.float32)


class RolloutEvaluator:
    """Uniform priors and the mean result of random playouts (one batch kernel call for
    native games; a Python loop for others). A search with this evaluator on a native game runs
    whole in one compiled call (mcts/compiled.py), playing out each leaf as it goes.

    Each call (or compiled search) seeds numba's playout stream afresh from `seed`; with
    `reseed=False` the stream is seeded once, at the first call, and every later playout
    continues it, so that two drivers that play out the same leaves in the same order see the
    same results (the tests compare the compiled search with the wave-by-wave driver so)."""

    def __init__(self, game, num_rollouts: int = 1, seed: int = 0, reseed: bool = True):
        if num_rollouts < 1:
            raise ValueError("num_rollouts must be at least 1.")
        self.game = game
        self.num_rollouts = num_rollouts
        self.reseed = reseed
        self.rng = np.random.default_rng(seed)
        self._seed = int(seed) * 1_000_003  # playout kernel seeds: distinct per call, reproducible
        self._seeded = False

    def next_seed(self) -> int:
        """The seed for the next batch of playouts; -1 (continue the thread's stream) once a
        `reseed=False` evaluator has seeded it."""
        if not self.reseed and self._seeded:
            return -1
        self._seeded = True
        self._seed += 1
        return self._seed % 2**32

    def evaluate(self, observations, legal_masks, states=None):
        if states is None:
            raise ValueError("RolloutEvaluator needs the leaves' states.")
        if isinstance(self.game, NativeGame):
            arr = np.ascontiguousarray(states, dtype=np.int64)
            if self.num_rollouts > 1:
                arr = np.repeat(arr, self.num_rollouts, axis=0)
            outcome = self.game.playout_outcomes(arr, self.next_seed()).astype(np.float32)
            values = np.where(arr[:, TO_PLAY] == 0, outcome, -outcome)
            if self.num_rollouts > 1:
                values = values.reshape(-1, self.num_rollouts).mean(axis=1)
        else:
            values = np.array([np.mean([self._python_playout(s) for _ in range(self.num_rollouts)])
                               for s in states], np.float32)
        return uniform_priors(legal_masks), values.astype(np.float32)

    def _python_playout(self, state) -> float:
        player = state.current_player()
        s = state.clone()
        while not s.is_terminal():
            legal = s.legal_actions()
            s.apply_action(int(legal[self.rng.integers(len(legal))]))
        return float(s.returns()[player])
