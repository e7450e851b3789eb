"""gymnasium environments for every native game."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import games
import games.gym  # registers the move37/* environments

ENV_IDS = [f"move37/{name}-v0" for name in games.gym.ENVIRONMENTS]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_checker_passes(env_id):
    # check_env steps random actions, so it runs in the documented penalty mode; by default an
    # illegal action raises (tested below) rather than hide a bug in the agent.
    env = gymnasium.make(env_id, opponent="random", illegal_action_penalty=-1.0, render_mode="ansi")
    check_env(env.unwrapped)


@pytest.mark.parametrize("env_id", ["move37/TicTacToe-v0", "move37/Connect4-v0", "move37/Othello-v0", "move37/Go9-v0"])
@pytest.mark.parametrize("side", [0, 1])
def test_episodes_follow_the_mask_and_end_with_the_result(env_id, side):
    env = gymnasium.make(env_id, opponent="random", agent_player=side)
    rng = np.random.default_rng(side)
    for episode in range(3):
        obs, info = env.reset(seed=episode)
        assert env.observation_space.contains(obs)
        done, reward = False, 0.0
        while not done:
            mask = info["action_mask"]
            assert mask.dtype == np.int8 and mask.any()
            obs, reward, done, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
            assert not truncated
        state = env.unwrapped.state
        assert state.is_terminal()
        assert reward == state.returns()[side]


def test_illegal_action_raises_or_is_penalised():
    env = gymnasium.make("move37/TicTacToe-v0")
    env.reset(seed=0)
    env.step(4)
    occupied = [a for a in range(9) if env.unwrapped.state.history().count(a)]
    with pytest.raises(games.IllegalMoveError):
        env.step(occupied[0])
    env = gymnasium.make("move37/TicTacToe-v0", illegal_action_penalty=-2.0)
    env.reset(seed=0)
    env.step(4)
    _, reward, done, _, info = env.step(4)
    assert (reward, done, info["illegal_action"]) == (-2.0, True, True)


def test_opponent_can_be_a_function_or_a_player():
    class FirstLegal:
        def select_action(self, state):
            return int(state.legal_actions()[0])

    for opponent in (FirstLegal(), lambda state: int(state.legal_actions()[0])):
        env = gymnasium.make("move37/Connect4-v0", opponent=opponent, agent_player=1)
        _, info = env.reset(seed=0)
        assert env.unwrapped.state.history() == [0]  # the opponent opened in column a
    with pytest.raises(ValueError, match="opponent"):
        gymnasium.make("move37/Connect4-v0", opponent=42)


def test_render_ansi_shows_the_board():
    env = gymnasium.make("move37/Go9-v0", render_mode="ansi")
    env.reset(seed=0)
    assert "A B C D E F G H J" in env.render()
