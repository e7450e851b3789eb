"""Differential tests: the native rules agree with pyspiel ply by ply.

Both engines play the same seeded random games; at every ply the legal action sets, the
player to move, terminal status and (at the end) the returns must be identical.
"""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest

import games

CASES = [
    # native spec (its pyspiel twin is Game.openspiel), number of random games
    ("connect4", 2000),
    ("gomoku", 1000),
    ("othello", 1000),
    ("go(size=9,rules=openspiel)", 1000),
    ("go(size=13,rules=openspiel)", 150),
    ("go(size=19,rules=openspiel)", 25),
]


def compare_game(native, spiel, rng):
    """Play one random game in both engines, checking every ply; returns pyspiel's final state."""
    ours = native.new_initial_state()
    theirs = spiel.new_initial_state()
    while True:
        assert ours.is_terminal() == theirs.is_terminal(), f"terminal differs after {ours.history()}"
        if theirs.is_terminal():
            np.testing.assert_array_equal(ours.returns(), np.asarray(theirs.returns(), dtype=np.float32))
            assert ours.legal_actions().size == 0
            return theirs
        assert ours.current_player() == theirs.current_player()
        legal = theirs.legal_actions()
        np.testing.assert_array_equal(ours.legal_actions(), legal, err_msg=f"after {ours.history()}")
        a = legal[rng.integers(len(legal))]
        ours.apply_action(a)
        theirs.apply_action(a)


@pytest.mark.parametrize("native_spec, n_games", CASES, ids=[c[0] for c in CASES])
def test_random_games_agree(native_spec, n_games):
    native = games.make(native_spec)
    spiel = pyspiel.load_game(native.openspiel)
    rng = np.random.default_rng(12345)
    plies = sum(len(compare_game(native, spiel, rng).history()) for _ in range(n_games))
    assert plies > n_games  # the games were real games, not empty loops


@pytest.mark.parametrize("size", [3, 4, 5])
def test_go_repetition_draws_agree(size):
    """Random Go on small boards sometimes repeats a position, which OpenSpiel's rules end as
    a draw: those games must agree too (the seeded run has 12, 9 and 4 of them)."""
    native = games.make(f"go(size={size},rules=openspiel)")
    spiel = pyspiel.load_game(native.openspiel)
    rng = np.random.default_rng(7)
    repetitions = 0
    for _ in range(1500):
        end = compare_game(native, spiel, rng)
        moves = end.history()
        if len(moves) < spiel.max_game_length() and not (moves[-1] == moves[-2] == size * size):
            repetitions += 1
            assert list(end.returns()) == [0.0, 0.0]
    assert repetitions >= 3


def _all_states(spiel_state, native_state, seen: set, out: list):
    key = str(spiel_state)
    if key in seen:
        return
    seen.add(key)
    out.append((spiel_state, native_state))
    if spiel_state.is_terminal():
        return
    for a in spiel_state.legal_actions():
        _all_states(spiel_state.child(a), native_state.child(a), seen, out)


def test_tictactoe_every_reachable_state_agrees():
    native = games.make("tictactoe")
    spiel = pyspiel.load_game(native.openspiel)
    states: list = []
    _all_states(spiel.new_initial_state(), native.new_initial_state(), set(), states)
    assert len(states) == 5478  # the number of reachable tic-tac-toe positions
    for theirs, ours in states:
        assert ours.is_terminal() == theirs.is_terminal()
        if theirs.is_terminal():
            np.testing.assert_array_equal(ours.returns(), np.asarray(theirs.returns(), dtype=np.float32))
        else:
            assert ours.current_player() == theirs.current_player()
            np.testing.assert_array_equal(ours.legal_actions(), theirs.legal_actions())
