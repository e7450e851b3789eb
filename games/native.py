"""Machinery shared by the numba-native games.

A native game keeps a position in one flat int64 array whose first slots form a common
header (below); its rules are `@njit(cache=True, nogil=True)` kernels in the game's own file
(they release the GIL, so that self-play threads search at once). This module holds the
Python side only: `NativeGame` validates and converts, then calls the
game's kernels, one call per batch. Each game file repeats the header layout as literals, so
its kernels read at a glance; tests check that they agree (numba's cache, keyed by the sources
in games/numba_cache.py, would notice an edit here too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from games.base import Game, IllegalMoveError, State, as_action

# Header slots shared by every native state array.
TO_PLAY = 0  # player to move, 0 or 1
TERMINAL = 1  # 1 once the game is over
OUTCOME = 2  # result for player 0 when terminal: +1, -1 or 0
PLY = 3  # moves played so far
LAST = 4  # last action played, -1 at the start
HEADER = 5


@dataclass
class StepBatch:
    """What one call of a game's batch kernel returns for N (state, action) pairs."""

    states: np.ndarray  # (N, state_size) int64 child states
    legal_masks: np.ndarray  # (N, num_actions) bool, all False where terminal
    terminal: np.ndarray  # (N,) bool
    returns: np.ndarray  # (N, 2) float32 per-player returns (zero unless terminal)
    observations: np.ndarray  # (N, C, H, W) float32 from the child's player to move


class NativeGame(Game):
    """A game whose rules are numba kernels over flat state arrays.

    Subclasses set the kernel attributes (each a jitted function from the game's own file),
    `consts` (the rules tuple: a NamedTuple of the scalar rule parameters every kernel takes
    after its array arguments, its class defined in the kernels' file, where the compiled
    rollout search of mcts/compiled.py finds `_apply`, `_legal_mask` and `_playout`),
    `state_size` and `initial_array()`.
    """

    state_size: int
    consts: tuple  # a NamedTuple
    _legal_mask_kernel: Callable
    _apply_kernel: Callable
    _observe_kernel: Callable
    _step_batch_kernel: Callable
    _playout_batch_kernel: Callable

    KERNELS = ("_legal_mask", "_apply", "_observe", "_step_batch", "_playout_batch")

    def __init_subclass__(cls, kernels: dict | None = None, **kw):
        """`class Go(NativeGame, kernels=globals())` binds the game file's kernels by name."""
        super().__init_subclass__(**kw)
        if kernels is not None:
            for name in cls.KERNELS:
                setattr(cls, f"{name}_kernel", staticmethod(kernels[name]))

    def initial_array(self) -> np.ndarray:
        raise NotImplementedError

    def new_initial_state(self) -> "NativeState":
        return NativeState(self, self.initial_array(), [])

    def state_from_array(self, array: np.ndarray, history: list[int] | None = None) -> "NativeState":
        return NativeState(self, np.array(array, dtype=np.int64), list(history or []))

    # ---- batch kernels -------------------------------------------------------------------
    def step_batch(self, states: np.ndarray, actions: np.ndarray) -> StepBatch:
        """Apply actions[i] to states[i] for all i in one kernel call.

        Actions must be legal (the search only ever picks legal ones); this is the hot path
        and does not re-check them.
        """
        states = np.ascontiguousarray(states, dtype=np.int64)
        actions = np.ascontiguousarray(actions, dtype=np.int64)
        n = states.shape[0]
        out = StepBatch(
            np.empty_like(states),
            np.empty((n, self.num_actions), dtype=np.bool_),
            np.empty(n, dtype=np.bool_),
            np.empty((n, 2), dtype=np.float32),
            np.empty((n, *self.observation_shape), dtype=np.float32),
        )
        outcome = np.empty(n, dtype=np.int64)
        self._step_batch_kernel(
            states, actions, out.states, out.legal_masks, out.terminal, outcome, out.observations, *self.consts
        )
        out.returns[:, 0] = outcome
        out.returns[:, 1] = -outcome
        return out

    def playout_outcomes(self, states: np.ndarray, seed: int, plies_out: np.ndarray | None = None) -> np.ndarray:
        """Like playout_batch, but the raw (N,) int64 results for player 0 (the hot path of
        rollout evaluation). A negative seed continues the thread's numba stream."""
        n = states.shape[0]
        outcome = np.empty(n, dtype=np.int64)
        plies = np.empty(n, dtype=np.int64) if plies_out is None else plies_out
        # numba's np.random.seed keeps the low 32 bits; plain NumPy (NUMBA_DISABLE_JIT) refuses
        # more, so the same seed is handed to both
        seed = int(seed)
        self._playout_batch_kernel(states, np.int64(seed if seed < 0 else seed % 2**32), outcome, plies, *self.consts)
        return outcome

    def playout_batch(self, states: np.ndarray, seed: int, plies_out: np.ndarray | None = None) -> np.ndarray:
        """Play every state to the end with random legal moves (Go: never filling one's own
        eyes); (N, 2) returns. `plies_out`, when given, receives each playout's length."""
        outcome = self.playout_outcomes(np.ascontiguousarray(states, dtype=np.int64), seed, plies_out)
        return np.stack([outcome, -outcome], axis=1).astype(np.float32)

    def observe_batch(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Legal masks and observations for many states (used to set up search roots)."""
        states = np.ascontiguousarray(states, dtype=np.int64)
        n = states.shape[0]
        masks = np.empty((n, self.num_actions), dtype=np.bool_)
        obs = np.empty((n, *self.observation_shape), dtype=np.float32)
        for i in range(n):
            self._legal_mask_kernel(states[i], masks[i], *self.consts)
            self._observe_kernel(states[i], masks[i], obs[i], *self.consts)
        return masks, obs

    # ---- notation helpers ----------------------------------------------------------------
    def _check_action_id(self, action: int) -> int:
        a = int(action)
        if not 0 <= a < self.num_actions:
            raise IllegalMoveError(f"{self.name}: action {action!r} is out of range 0..{self.num_actions - 1}.")
        return a


class NativeState(State):
    """A thin Python object over one flat state array and its move history."""

    __slots__ = ("game", "_s", "_history", "_mask")

    def __init__(self, game: NativeGame, array: np.ndarray, history: list[int]):
        self.game = game
        self._s = array
        self._history = history
        self._mask = None

    @property
    def array(self) -> np.ndarray:
        """The flat state array (read it, do not write it)."""
        return self._s

    def current_player(self) -> int:
        return int(self._s[TO_PLAY])

    def legal_mask(self) -> np.ndarray:
        if self._mask is None:
            mask = np.empty(self.game.num_actions, dtype=np.bool_)
            self.game._legal_mask_kernel(self._s, mask, *self.game.consts)
            self._mask = mask
        return self._mask.copy()

    def apply_action(self, action: int) -> None:
        a = as_action(action)
        if a is None:
            raise self._illegal(action)
        if not 0 <= a < self.game.num_actions or not self.legal_mask()[a]:
            raise self._illegal(action)
        self.game._apply_kernel(self._s, a, *self.game.consts)
        self._history.append(a)
        self._mask = None

    def clone(self) -> "NativeState":
        c = NativeState(self.game, self._s.copy(), list(self._history))
        c._mask = self._mask
        return c

    def is_terminal(self) -> bool:
        return bool(self._s[TERMINAL])

    def returns(self) -> np.ndarray:
        if not self._s[TERMINAL]:
            return np.zeros(2, dtype=np.float32)
        o = float(self._s[OUTCOME])
        return np.array([o, -o], dtype=np.float32)

    def observation(self) -> np.ndarray:
        mask = self.legal_mask()
        obs = np.empty(self.game.observation_shape, dtype=np.float32)
        self.game._observe_kernel(self._s, mask, obs, *self.game.consts)
        return obs

    def history(self) -> list[int]:
        return list(self._history)

    def last_action(self) -> int:
        return int(self._s[LAST])

    def __str__(self) -> str:
        return self.game.render(self)

    def __repr__(self) -> str:
        return f"<{self.game.name} state after {len(self._history)} moves>"
