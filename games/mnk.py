"""k-in-a-row games on an H x W board, with or without gravity: the rules of tic-tac-toe,
Connect Four and Gomoku as one family of numba kernels.

State array: header (to_play, terminal, outcome, ply, last), then H*W cells in row-major
order with row 0 at the top: 0 empty, 1 first player, 2 second player. With gravity the
action is a column and the stone falls to the lowest empty row; without, the action is the
cell index. A line of k or more wins (as in OpenSpiel, overlines count); a full board draws.
Every kernel takes the rule constants (height, width, k, gravity) after its arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from games.base import Symmetry
from games.native import NativeGame, NativeState
from games.notation import render_grid

_TO_PLAY, _TERMINAL, _OUTCOME, _PLY, _LAST, _HEADER = 0, 1, 2, 3, 4, 5


@numba.njit(cache=True, nogil=True)
def _drop_row(s, col, h, w):
    """Lowest empty row of a column, -1 when full."""
    for r in range(h - 1, -1, -1):
        if s[_HEADER + r * w + col] == 0:
            return r
    return -1


@numba.njit(cache=True, nogil=True)
def _legal_mask(s, mask, h, w, k, gravity):
    mask[:] = False
    if s[_TERMINAL]:
        return
    if gravity:
        for c in range(w):
            mask[c] = s[_HEADER + c] == 0
    else:
        for i in range(h * w):
            mask[i] = s[_HEADER + i] == 0


@numba.njit(cache=True, nogil=True)
def _line_length(s, r, c, dr, dc, h, w, v):
    n = 0
    rr, cc = r + dr, c + dc
    while 0 <= rr < h and 0 <= cc < w and s[_HEADER + rr * w + cc] == v:
        n += 1
        rr += dr
        cc += dc
    return n


@numba.njit(cache=True, nogil=True)
def _apply(s, a, h, w, k, gravity):
    if gravity:
        c = a
        r = _drop_row(s, c, h, w)
    else:
        r = a // w
        c = a % w
    v = s[_TO_PLAY] + 1
    s[_HEADER + r * w + c] = v
    s[_PLY] += 1
    s[_LAST] = a
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        if 1 + _line_length(s, r, c, dr, dc, h, w, v) + _line_length(s, r, c, -dr, -dc, h, w, v) >= k:
            s[_TERMINAL] = 1
            s[_OUTCOME] = 1 if v == 1 else -1
            break
    if not s[_TERMINAL] and s[_PLY] == h * w:
        s[_TERMINAL] = 1
        s[_OUTCOME] = 0
    s[_TO_PLAY] = 1 - s[_TO_PLAY]


@numba.njit(cache=True, nogil=True)
def _observe(s, mask, out, h, w, k, gravity):
    """Planes: the mover's stones, the opponent's stones, all ones when player 0 moves."""
    me = s[_TO_PLAY] + 1
    first = 1.0 if s[_TO_PLAY] == 0 else 0.0
    for r in range(h):
        for c in range(w):
            v = s[_HEADER + r * w + c]
            out[0, r, c] = 1.0 if v == me else 0.0
            out[1, r, c] = 1.0 if (v != 0 and v != me) else 0.0
            out[2, r, c] = first


@numba.njit(cache=True, nogil=True)
def _step_batch(states, actions, out_states, out_masks, out_terminal, out_outcome, out_obs, h, w, k, gravity):
    for i in range(states.shape[0]):
        out_states[i] = states[i]
        _apply(out_states[i], actions[i], h, w, k, gravity)
        _legal_mask(out_states[i], out_masks[i], h, w, k, gravity)
        out_terminal[i] = out_states[i, _TERMINAL] != 0
        out_outcome[i] = out_states[i, _OUTCOME]
        _observe(out_states[i], out_masks[i], out_obs[i], h, w, k, gravity)


@numba.njit(cache=True, nogil=True)
def _random_game(s, moves, h, w, k, gravity):
    """Play s to the end in place with uniformly random legal moves from the thread's numba
    stream; `moves` is scratch of h * w slots."""
    n = h * w
    # Without gravity the legal moves are the empty cells: keep them in a list and swap-remove
    # the one played. With gravity, rebuild the (at most w) open columns.
    m = 0
    if not gravity:
        for j in range(n):
            if s[_HEADER + j] == 0:
                moves[m] = j
                m += 1
    while not s[_TERMINAL]:
        if gravity:
            m = 0
            for c in range(w):
                if s[_HEADER + c] == 0:
                    moves[m] = c
                    m += 1
        j = np.random.randint(m)
        a = moves[j]
        if not gravity:
            m -= 1
            moves[j] = moves[m]
        _apply(s, a, h, w, k, gravity)


@numba.njit(cache=True, nogil=True)
def _playout(s0, h, w, k, gravity):
    """One random playout of a copy of s0: (outcome for player 0, plies played)."""
    s = s0.copy()
    _random_game(s, np.empty(h * w, dtype=np.int64), h, w, k, gravity)
    return s[_OUTCOME], s[_PLY] - s0[_PLY]


@numba.njit(cache=True, nogil=True)
def _playout_batch(states, seed, out_outcome, out_plies, h, w, k, gravity):
    """Random playouts of every state; seeds the thread's stream first unless seed < 0."""
    if seed >= 0:
        np.random.seed(seed)
    moves = np.empty(h * w, dtype=np.int64)
    for i in range(states.shape[0]):
        s = states[i].copy()
        _random_game(s, moves, h, w, k, gravity)
        out_outcome[i] = s[_OUTCOME]
        out_plies[i] = s[_PLY] - states[i, _PLY]


class MNKRules(NamedTuple):
    """The rule constants every k-in-a-row kernel takes after its arrays. A typed tuple whose
    class lives beside the kernels, so the compiled search (mcts/compiled.py) finds them."""

    height: np.int64
    width: np.int64
    k: np.int64
    gravity: np.bool_


class MNKGame(NativeGame, kernels=globals()):
    """Base class of the k-in-a-row games; subclasses give the name and notation."""

    symbols = {0: ".", 1: "X", 2: "O"}
    wins_in_one_move = True

    def __init__(self, name: str, height: int, width: int, connect: int, gravity: bool):
        if height < 1 or width < 1 or connect < 1:
            raise ValueError(f"{name}: board {height}x{width} and line length {connect} must be positive.")
        if connect > max(height, width):
            raise ValueError(f"{name}: a line of {connect} does not fit on a {height}x{width} board.")
        self.name = name
        self.height, self.width, self.connect, self.gravity = height, width, connect, gravity
        self.num_actions = width if gravity else height * width
        self.observation_shape = (3, height, width)
        self.state_size = _HEADER + height * width
        self.consts = MNKRules(np.int64(height), np.int64(width), np.int64(connect), np.bool_(gravity))

    def initial_array(self) -> np.ndarray:
        s = np.zeros(self.state_size, dtype=np.int64)
        s[_LAST] = -1
        return s

    def board(self, state: NativeState) -> np.ndarray:
        """(H, W) cells: 0 empty, 1 first player, 2 second player; row 0 at the top."""
        return state.array[_HEADER:].reshape(self.height, self.width)

    def _cell_of_last(self, state: NativeState) -> int:
        a = state.last_action()
        if a < 0 or not self.gravity:
            return a
        board = self.board(state)
        rows = np.flatnonzero(board[:, a])
        return int(rows[0]) * self.width + a

    def _result_footer(self, state: NativeState) -> str:
        if not state.is_terminal():
            return f"{self.symbols[state.current_player() + 1]} to move"
        o = state.returns()[0]
        return "draw" if o == 0 else f"{self.symbols[1 if o > 0 else 2]} wins"

    @property
    def symmetries(self) -> tuple[Symmetry, ...]:
        from games.base import grid_symmetries

        if self.gravity:  # only the mirror keeps the floor where it is
            sym = grid_symmetries(self.height, self.width, self.height * self.width, which=[(0, False), (0, True)])
            return tuple(Symmetry(s.name, s.action_perm[: self.width], s.transform) for s in sym)
        return grid_symmetries(self.height, self.width, self.num_actions)

    def render(self, state: NativeState) -> str:
        return render_grid(
            state.array[_HEADER:],
            self.symbols,
            height=self.height,
            width=self.width,
            marked=self._cell_of_last(state),
            footer=self._result_footer(state),
        )
