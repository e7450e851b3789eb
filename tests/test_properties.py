"""Property tests over random play for every native game."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import games
from games.go_kernels import _HEADER as GO_HEADER

NATIVE = ["tictactoe", "connect4", "gomoku(size=9)", "othello", "go9", "go(size=5,rules=openspiel)"]
GAMES = {name: games.make(name) for name in NATIVE}
seeds = st.integers(0, 2**31 - 1)


def random_game(game, seed, max_moves=10_000):
    """The states of one seeded random game, from the start to the end (or max_moves)."""
    rng = np.random.default_rng(seed)
    state = game.new_initial_state()
    states = [state.clone()]
    while not state.is_terminal() and len(states) <= max_moves:
        legal = state.legal_actions()
        assert len(legal) > 0, "a live state must have a legal action"
        state.apply_action(int(legal[rng.integers(len(legal))]))  # must never raise
        states.append(state.clone())
    return states


@pytest.mark.parametrize("name", NATIVE)
@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_terminal_states_and_returns(name, seed):
    game = GAMES[name]
    states = random_game(game, seed)
    for s in states[:-1]:
        assert not s.is_terminal()
        assert np.all(s.returns() == 0)
        assert s.current_player() in (0, 1)
        mask = s.legal_mask()
        assert mask.dtype == np.bool_ and mask.shape == (game.num_actions,)
        obs = s.observation()
        assert obs.shape == game.observation_shape and obs.dtype == np.float32
    end = states[-1]
    assert end.is_terminal()
    assert end.legal_actions().size == 0
    r = end.returns()
    assert r.sum() == 0 and set(r.tolist()) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("name", NATIVE)
@settings(max_examples=15, deadline=None)
@given(seed=seeds, cut=st.floats(0, 1))
def test_clone_is_independent(name, seed, cut):
    game = GAMES[name]
    states = random_game(game, seed)
    s = states[int(cut * (len(states) - 2))] if len(states) > 1 else states[0]
    before = (s.array.copy(), s.history(), s.legal_mask())
    c = s.clone()
    c.apply_action(int(c.legal_actions()[0]))
    child = s.child(int(s.legal_actions()[-1]))
    assert not np.array_equal(c.array, s.array) and len(child.history()) == len(s.history()) + 1
    np.testing.assert_array_equal(s.array, before[0])
    assert s.history() == before[1]
    np.testing.assert_array_equal(s.legal_mask(), before[2])


@pytest.mark.parametrize("name", NATIVE)
@settings(max_examples=8, deadline=None)
@given(seed=seeds)
def test_symmetries_map_legal_moves_and_keep_the_outcome(name, seed):
    game = GAMES[name]
    states = random_game(game, seed)
    moves = states[-1].history()
    for sym in game.symmetries:
        image = game.new_initial_state()
        for s, a in zip(states, moves):
            np.testing.assert_array_equal(image.legal_mask()[sym.action_perm], s.legal_mask())
            np.testing.assert_array_equal(image.observation(), sym.transform(s.observation()))
            image.apply_action(int(sym.action_perm[a]))
        assert image.is_terminal()
        np.testing.assert_array_equal(image.returns(), states[-1].returns())


@pytest.mark.parametrize("name", NATIVE)
@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_step_batch_matches_the_state_api(name, seed):
    game = GAMES[name]
    states = [s for s in random_game(game, seed) if not s.is_terminal()]
    rng = np.random.default_rng(seed)
    actions = np.array([rng.choice(s.legal_actions()) for s in states])
    out = game.step_batch(np.stack([s.array for s in states]), actions)
    for i, (s, a) in enumerate(zip(states, actions)):
        child = s.child(int(a))
        np.testing.assert_array_equal(out.states[i], child.array)
        np.testing.assert_array_equal(out.legal_masks[i], child.legal_mask())
        assert out.terminal[i] == child.is_terminal()
        np.testing.assert_array_equal(out.returns[i], child.returns())
        np.testing.assert_array_equal(out.observations[i], child.observation())
    masks, obs = game.observe_batch(np.stack([s.array for s in states]))
    np.testing.assert_array_equal(masks[0], states[0].legal_mask())
    np.testing.assert_array_equal(obs[-1], states[-1].observation())


@pytest.mark.parametrize("name", NATIVE)
def test_playouts_are_seeded_and_finish(name):
    game = GAMES[name]
    start = np.repeat(game.new_initial_state().array[None], 64, axis=0)
    plies = np.empty(64, dtype=np.int64)
    a = game.playout_batch(start, 3, plies)
    b = game.playout_batch(start, 3)
    np.testing.assert_array_equal(a, b)
    assert np.all(a.sum(axis=1) == 0) and np.all(plies > 0)
    assert len(np.unique(a[:, 0])) > 1 or name == "go(size=5,rules=openspiel)"


def test_tictactoe_random_playouts_have_the_known_outcome_distribution():
    """Uniform random tic-tac-toe: X wins 58.5%, O 28.8%, draws 12.7% (exact enumeration)."""
    game = GAMES["tictactoe"]
    r = game.playout_batch(np.repeat(game.new_initial_state().array[None], 40_000, axis=0), 11)[:, 0]
    assert abs(np.mean(r == 1) - 0.585) < 0.01
    assert abs(np.mean(r == -1) - 0.288) < 0.01


def test_go_playouts_never_fill_own_eyes():
    """Random play that fills its own eyes keeps capturing and runs to the move cap (as
    OpenSpiel's random games do); eye-aware playouts end early with two passes."""
    game = GAMES["go9"]
    start = np.repeat(game.new_initial_state().array[None], 32, axis=0)
    plies = np.empty(32, dtype=np.int64)
    game.playout_batch(start, 5, plies)
    assert np.all(plies < game.max_moves)
    assert plies.mean() < 2 * 81


def _python_go_playout(game, state, rng) -> tuple[int, int]:
    """The playout policy written plainly: a uniformly random legal point that is not one of the
    mover's own one-point eyes (orthogonal neighbours all its stones, at most one diagonal the
    opponent's, none on the edge), passing when none is left."""
    n, s, plies = game.size, state.clone(), 0
    while not s.is_terminal():
        board = s.array[GO_HEADER:GO_HEADER + n * n]
        me = s.current_player() + 1

        def own_eye(p):
            r, c = divmod(p, n)
            ortho = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))]
            diag = [(r + dr, c + dc) for dr, dc in ((-1, -1), (-1, 1), (1, -1), (1, 1))]
            if any(0 <= y < n and 0 <= x < n and board[y * n + x] != me for y, x in ortho):
                return False
            inside = [(y, x) for y, x in diag if 0 <= y < n and 0 <= x < n]
            bad = sum(board[y * n + x] == 3 - me for y, x in inside)
            return bad == 0 if len(inside) < 4 else bad <= 1

        points = [int(a) for a in np.flatnonzero(s.legal_mask()[:-1]) if not own_eye(int(a))]
        s.apply_action(int(rng.choice(points)) if points else n * n)
        plies += 1
    return int(s.returns()[0]), plies


def test_go_playouts_draw_from_the_plainly_written_policy():
    """The kernel's playouts (which keep a list of empty points and reorder it as they draw)
    against the same policy written plainly in Python: black's share of wins and the mean
    length agree within four standard errors, on a board small enough for many playouts."""
    game = games.make("go(size=5,rules=openspiel)")
    start = game.new_initial_state()
    start.apply_action(game.string_to_action("C3"))
    rng = np.random.default_rng(0)
    plain = np.array([_python_go_playout(game, start, rng) for _ in range(1500)])
    plies = np.empty(20_000, dtype=np.int64)
    fast = game.playout_batch(np.repeat(start.array[None], 20_000, axis=0), 3, plies)[:, 0]
    for a, b in ((plain[:, 0] > 0, fast > 0), (plain[:, 1], plies)):
        se = np.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 4 * se, (a.mean(), b.mean(), se)
