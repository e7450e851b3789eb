"""The Game/State surface over pyspiel games."""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest

import games


@pytest.mark.parametrize("spec", ["openspiel:breakthrough", "openspiel:hex(board_size=5)", "openspiel:tic_tac_toe",
                                  "openspiel:connect_four", "openspiel:clobber"])
def test_random_games_follow_pyspiel(spec):
    game = games.make(spec)
    spiel = pyspiel.load_game(spec.split(":", 1)[1])
    rng = np.random.default_rng(0)
    for _ in range(20):
        ours, theirs = game.new_initial_state(), spiel.new_initial_state()
        while not theirs.is_terminal():
            assert ours.current_player() == theirs.current_player()
            np.testing.assert_array_equal(ours.legal_actions(), theirs.legal_actions())
            assert ours.observation().shape == game.observation_shape
            a = int(rng.choice(theirs.legal_actions()))
            child = ours.child(a)
            assert len(ours.history()) == len(child.history()) - 1  # child does not touch ours
            ours.apply_action(a)
            theirs.apply_action(a)
        assert ours.is_terminal()
        r = ours.returns()
        assert r.sum() == 0 and np.abs(r).max() <= 1
        np.testing.assert_array_equal(np.sign(r), np.sign(theirs.returns()))


def test_names_and_notation():
    game = games.make("openspiel:tic_tac_toe")
    assert game.name == "openspiel:tic_tac_toe"
    assert game.num_actions == 9
    assert game.observation_shape == (3, 3, 3)
    assert game.string_to_action("4") == 4
    assert game.string_to_action(game.action_to_string(4)) == 4
    with pytest.raises(ValueError, match="not a move"):
        game.string_to_action("nonsense")


def test_flat_observations_get_three_dimensions():
    game = games.make("openspiel:gomoku(size=9)")
    assert game.observation_shape == (3, 1, 81)
    assert game.new_initial_state().observation().shape == (3, 1, 81)
