"""Othello on 8x8. Actions as OpenSpiel's othello: cell r * 8 + c with row 0 = rank 1 at the
top (notation d3), and 64 = pass, which is legal only when no placement is.

State array: header (to_play, terminal, outcome, ply, last), then 64 cells (0 empty, 1 black
= player 0, 2 white). The game ends when neither side can place a disc; more discs wins.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from games.base import grid_symmetries
from games.native import NativeGame, NativeState
from games.notation import parse_point, point_name, render_grid

_TO_PLAY, _TERMINAL, _OUTCOME, _PLY, _LAST, _HEADER = 0, 1, 2, 3, 4, 5
N = 8
PASS = N * N
_DIRS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)], dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _flips_in_direction(s, r, c, dr, dc, me):
    """How many opponent discs a disc of `me` at (r, c) would flip along (dr, dc)."""
    opp = 3 - me
    n = 0
    rr, cc = r + dr, c + dc
    while 0 <= rr < N and 0 <= cc < N and s[_HEADER + rr * N + cc] == opp:
        n += 1
        rr += dr
        cc += dc
    if n > 0 and 0 <= rr < N and 0 <= cc < N and s[_HEADER + rr * N + cc] == me:
        return n
    return 0


@numba.njit(cache=True, nogil=True)
def _is_placement(s, p, me):
    if s[_HEADER + p] != 0:
        return False
    r, c = p // N, p % N
    for d in range(8):
        if _flips_in_direction(s, r, c, _DIRS[d, 0], _DIRS[d, 1], me) > 0:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _has_placement(s, me):
    for p in range(N * N):
        if _is_placement(s, p, me):
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _legal_mask(s, mask):
    mask[:] = False
    if s[_TERMINAL]:
        return
    me = s[_TO_PLAY] + 1
    any_move = False
    for p in range(N * N):
        if _is_placement(s, p, me):
            mask[p] = True
            any_move = True
    if not any_move:
        mask[PASS] = True


@numba.njit(cache=True, nogil=True)
def _apply(s, a):
    me = s[_TO_PLAY] + 1
    if a != PASS:
        r, c = a // N, a % N
        for d in range(8):
            dr, dc = _DIRS[d, 0], _DIRS[d, 1]
            n = _flips_in_direction(s, r, c, dr, dc, me)
            for j in range(1, n + 1):
                s[_HEADER + (r + j * dr) * N + (c + j * dc)] = me
        s[_HEADER + a] = me
    s[_PLY] += 1
    s[_LAST] = a
    s[_TO_PLAY] = 1 - s[_TO_PLAY]
    if not _has_placement(s, 3 - me) and not _has_placement(s, me):
        black = 0
        white = 0
        for p in range(N * N):
            if s[_HEADER + p] == 1:
                black += 1
            elif s[_HEADER + p] == 2:
                white += 1
        s[_TERMINAL] = 1
        s[_OUTCOME] = 1 if black > white else (-1 if white > black else 0)


@numba.njit(cache=True, nogil=True)
def _observe(s, mask, out):
    """Planes: mover's discs, opponent's discs, the mover's legal placements, ones if black moves."""
    me = s[_TO_PLAY] + 1
    first = 1.0 if s[_TO_PLAY] == 0 else 0.0
    for p in range(N * N):
        r, c = p // N, p % N
        v = s[_HEADER + p]
        out[0, r, c] = 1.0 if v == me else 0.0
        out[1, r, c] = 1.0 if (v != 0 and v != me) else 0.0
        out[2, r, c] = 1.0 if mask[p] else 0.0
        out[3, r, c] = first


@numba.njit(cache=True, nogil=True)
def _step_batch(states, actions, out_states, out_masks, out_terminal, out_outcome, out_obs):
    for i in range(states.shape[0]):
        out_states[i] = states[i]
        _apply(out_states[i], actions[i])
        _legal_mask(out_states[i], out_masks[i])
        out_terminal[i] = out_states[i, _TERMINAL] != 0
        out_outcome[i] = out_states[i, _OUTCOME]
        _observe(out_states[i], out_masks[i], out_obs[i])


@numba.njit(cache=True, nogil=True)
def _random_game(s, moves):
    """Play s to the end in place with uniformly random legal moves from the thread's numba
    stream (pass only when no placement is legal)."""
    while not s[_TERMINAL]:
        me = s[_TO_PLAY] + 1
        m = 0
        for p in range(N * N):
            if _is_placement(s, p, me):
                moves[m] = p
                m += 1
        _apply(s, moves[np.random.randint(m)] if m > 0 else PASS)


@numba.njit(cache=True, nogil=True)
def _playout(s0):
    """One random playout of a copy of s0: (outcome for player 0, plies played)."""
    s = s0.copy()
    _random_game(s, np.empty(N * N, dtype=np.int64))
    return s[_OUTCOME], s[_PLY] - s0[_PLY]


@numba.njit(cache=True, nogil=True)
def _playout_batch(states, seed, out_outcome, out_plies):
    """Random playouts of every state; seeds the thread's stream first unless seed < 0."""
    if seed >= 0:
        np.random.seed(seed)
    moves = np.empty(N * N, dtype=np.int64)
    for i in range(states.shape[0]):
        s = states[i].copy()
        _random_game(s, moves)
        out_outcome[i] = s[_OUTCOME]
        out_plies[i] = s[_PLY] - states[i, _PLY]


class OthelloRules(NamedTuple):
    """Othello has no rule constants; the empty typed tuple still tells the compiled search
    (mcts/compiled.py) where the kernels are."""


class Othello(NativeGame, kernels=globals()):
    name = "othello"
    openspiel = "othello"
    num_actions = N * N + 1
    observation_shape = (4, N, N)
    state_size = _HEADER + N * N
    consts = OthelloRules()
    symbols = {0: ".", 1: "X", 2: "O"}

    def initial_array(self) -> np.ndarray:
        s = np.zeros(self.state_size, dtype=np.int64)
        s[_LAST] = -1
        s[_HEADER + 3 * N + 3] = s[_HEADER + 4 * N + 4] = 2
        s[_HEADER + 3 * N + 4] = s[_HEADER + 4 * N + 3] = 1
        return s

    @property
    def symmetries(self):
        # Only the four symmetries that fix the opening position, so that every augmented
        # position is one a real game can reach.
        start = self.initial_array()[_HEADER:].reshape(1, N, N)
        return tuple(s for s in grid_symmetries(N, N, self.num_actions) if np.array_equal(s.transform(start), start))

    def action_to_string(self, action: int) -> str:
        a = self._check_action_id(action)
        return "pass" if a == PASS else point_name(a // N, a % N, N)

    def string_to_action(self, text: str) -> int:
        if str(text).strip().lower() == "pass":
            return PASS
        rc = parse_point(str(text), N, N)
        if rc is None:
            raise ValueError(f"othello: {text!r} is not a move; write a column a-h and a row 1-8 (like d3), or pass.")
        return rc[0] * N + rc[1]

    def render(self, state: NativeState) -> str:
        cells = state.array[_HEADER:]
        black, white = int(np.sum(cells == 1)), int(np.sum(cells == 2))
        if state.is_terminal():
            o = state.returns()[0]
            status = "draw" if o == 0 else ("X (black) wins" if o > 0 else "O (white) wins")
        else:
            status = ("X (black)" if state.current_player() == 0 else "O (white)") + " to move"
        last = state.last_action()
        return render_grid(
            cells,
            self.symbols,
            height=N,
            width=N,
            marked=last if last != PASS else -1,
            footer=f"X {black} - O {white}; {status}",
        )
