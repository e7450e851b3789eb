"""gymnasium environments: the agent plays one side of a native game against an opponent.

    import gymnasium, games.gym
    env = gymnasium.make("move37/Connect4-v0", opponent="random")

Observations are the game's (C, H, W) float32 planes from the agent's view; the reward is the
final result for the agent (+1, -1, 0), given on the last step. `info["action_mask"]` (int8,
1 = legal) lists the agent's legal actions. An illegal action raises `games.IllegalMoveError`
unless `illegal_action_penalty` is set, in which case the episode ends with that reward (use
this mode for tools that step unmasked random actions, such as gymnasium's `check_env`).
The opponent is "random", any object with `select_action(state) -> int` (such as a player
from `engine.make_player`), or a function of the state.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium
import numpy as np
from gymnasium import spaces

import games
from games.base import IllegalMoveError

ENVIRONMENTS = {
    "TicTacToe": "tictactoe",
    "Connect4": "connect4",
    "Gomoku": "gomoku",
    "Othello": "othello",
    "Go9": "go9",
    "Go13": "go13",
    "Go19": "go19",
}


class GameEnv(gymnasium.Env):
    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        game: str = "connect4",
        opponent: Any = "random",
        agent_player: int | str = 0,
        illegal_action_penalty: float | None = None,
        render_mode: str | None = None,
        **game_params,
    ):
        self.game = games.make(game, **game_params)
        if agent_player not in (0, 1, "random"):
            raise ValueError(f"agent_player must be 0, 1 or 'random', not {agent_player!r}.")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, not {render_mode!r}.")
        self._opponent = self._make_opponent(opponent)
        self.agent_player_setting = agent_player
        self.illegal_action_penalty = illegal_action_penalty
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=self.game.observation_shape, dtype=np.float32)
        self.action_space = spaces.Discrete(self.game.num_actions)
        self.state = None
        self.agent_player = 0

    def _make_opponent(self, opponent) -> Callable:
        if opponent == "random":
            return lambda state: int(self.np_random.choice(state.legal_actions()))
        if hasattr(opponent, "select_action"):
            return opponent.select_action
        if callable(opponent):
            return opponent
        raise ValueError(f"opponent must be 'random', a player with select_action, or a function; got {opponent!r}.")

    def _info(self) -> dict:
        mask = self.state.legal_mask() if self.state.current_player() == self.agent_player else np.zeros(
            self.game.num_actions, dtype=bool
        )
        return {"action_mask": mask.astype(np.int8), "history": self.state.history()}

    def _obs(self) -> np.ndarray:
        return self.state.observation()

    def _opponent_moves(self) -> None:
        while not self.state.is_terminal() and self.state.current_player() != self.agent_player:
            self.state.apply_action(int(self._opponent(self.state.clone())))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = self.game.new_initial_state()
        side = self.agent_player_setting
        self.agent_player = int(self.np_random.integers(2)) if side == "random" else int(side)
        self._opponent_moves()
        return self._obs(), self._info()

    def step(self, action):
        if self.state is None:
            raise RuntimeError("call reset() before step().")
        if self.state.is_terminal():
            raise RuntimeError("the episode is over; call reset().")
        try:
            self.state.apply_action(int(action))
        except IllegalMoveError:
            if self.illegal_action_penalty is None:
                raise
            info = self._info()
            info["illegal_action"] = True
            return self._obs(), float(self.illegal_action_penalty), True, False, info
        self._opponent_moves()
        done = self.state.is_terminal()
        reward = float(self.state.returns()[self.agent_player]) if done else 0.0
        if self.render_mode == "human":
            self.render()
        return self._obs(), reward, done, False, self._info()

    def render(self):
        if self.render_mode is None or self.state is None:
            return None
        if self.render_mode == "human":
            print(self.state)
            return None
        return str(self.state)


def register() -> None:
    for env_name, game in ENVIRONMENTS.items():
        env_id = f"move37/{env_name}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point="games.gym:GameEnv", kwargs={"game": game})


register()
