"""Bad input gets a clear error that names the problem, and leaves the state as it was."""

from __future__ import annotations

import numpy as np
import pytest

import games
from games import IllegalMoveError, UnknownGameError

NATIVE = ["tictactoe", "connect4", "gomoku", "othello", "go9"]


@pytest.mark.parametrize("name", NATIVE + ["openspiel:breakthrough"])
@pytest.mark.parametrize("action", [-1, 10_000, "x", None, 2.5])
def test_out_of_range_or_garbage_action(name, action):
    game = games.make(name)
    state = game.new_initial_state()
    before = state.legal_mask(), state.history()
    with pytest.raises(IllegalMoveError, match="illegal"):
        state.apply_action(action)
    np.testing.assert_array_equal(state.legal_mask(), before[0])
    assert state.history() == before[1]


@pytest.mark.parametrize("name", NATIVE + ["openspiel:breakthrough"])
def test_illegal_action_names_the_move_and_changes_nothing(name):
    game = games.make(name)
    state = game.new_initial_state()
    state.apply_action(int(state.legal_actions()[0]))
    while state.legal_mask().all():  # Connect Four: fill a column first
        state.apply_action(int(state.legal_actions()[0]))
    illegal = np.flatnonzero(~state.legal_mask())
    a = int(illegal[0])
    snapshot = state.clone()
    with pytest.raises(IllegalMoveError) as info:
        state.apply_action(a)
    assert game.action_to_string(a) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert state.history() == snapshot.history()
    np.testing.assert_array_equal(state.observation(), snapshot.observation())


def test_occupied_point_in_go_is_illegal():
    game = games.make("go9")
    state = game.new_initial_state()
    state.apply_action(game.string_to_action("E5"))
    with pytest.raises(IllegalMoveError, match="E5"):
        state.apply_action(game.string_to_action("E5"))


def test_moves_after_the_end_are_illegal():
    game = games.make("tictactoe")
    state = game.new_initial_state()
    for m in ["a1", "b1", "a2", "b2", "a3"]:
        state.apply_action(game.string_to_action(m))
    assert state.is_terminal()
    with pytest.raises(IllegalMoveError, match="game is over"):
        state.apply_action(game.string_to_action("c3"))


def test_unknown_game_lists_the_available_names():
    with pytest.raises(UnknownGameError) as info:
        games.make("nosuchgame")
    for name in games.available():
        assert name in str(info.value)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("openspiel:kuhn_poker", "chance nodes"),
        ("openspiel:goofspiel", "simultaneous"),
        ("openspiel:no_such_game_at_all", "cannot load"),
        ("go(size=42)", "size"),
        ("go(rules=japanese)", "rules"),
        ("go(komi=7.3)", "komi"),
        ("go(colour=red)", "bad parameters"),
        ("gomoku(connect=99)", "does not fit"),
    ],
)
def test_bad_specs_say_why(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        games.make(spec)


@pytest.mark.parametrize(
    "name, text",
    [("tictactoe", "d4"), ("tictactoe", "b"), ("connect4", "h"), ("connect4", "9"), ("go9", "I5"),
     ("go9", "Z1"), ("go9", "A10"), ("othello", "resign"), ("gomoku", "??"), ("go9", "")],
)
def test_string_to_action_rejects_garbage(name, text):
    game = games.make(name)
    with pytest.raises(ValueError, match="not a"):
        game.string_to_action(text)


@pytest.mark.parametrize(
    "name, text, action",
    [("tictactoe", "b2", 4), ("tictactoe", "C3", 8), ("connect4", "d", 3), ("connect4", "3", 3),
     ("go9", "A1", 0), ("go9", "j9", 80), ("go9", "pass", 81), ("go19", "T19", 360), ("go9", "J1", 8),
     ("othello", "d3", 19), ("othello", "pass", 64), ("gomoku", "h8", 7 * 15 + 7)],
)
def test_notation_round_trips(name, text, action):
    game = games.make(name)
    assert game.string_to_action(text) == action
    assert game.string_to_action(game.action_to_string(action)) == action
