"""The Game/State surface over any two-player, zero-sum, perfect-information, sequential
OpenSpiel game (`openspiel:NAME` or `openspiel:NAME(k=v,...)`).

Slower than the native games (every step is a pyspiel call from Python) but any such game
works with the same search, players and tools. Observations are OpenSpiel's observation
tensor for the player to move, reshaped to (C, H, W) (a flat tensor becomes (1, 1, L)).
"""

from __future__ import annotations

import numpy as np
import pyspiel

from games.base import Game, IllegalMoveError, State, as_action, UnknownGameError


class OpenSpielGame(Game):
    def __init__(self, spec: str):
        self.spec = spec
        try:
            self._game = pyspiel.load_game(spec)
        except pyspiel.SpielError as e:
            raise UnknownGameError(f"OpenSpiel cannot load {spec!r}: {_first_line(e)}") from None
        t = self._game.get_type()
        problems = []
        if self._game.num_players() != 2:
            problems.append(f"it has {self._game.num_players()} players, not 2")
        if t.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
            problems.append("its moves are simultaneous")
        if t.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC:
            problems.append("it has chance nodes")
        if t.information != pyspiel.GameType.Information.PERFECT_INFORMATION:
            problems.append("its information is imperfect")
        if t.utility not in (pyspiel.GameType.Utility.ZERO_SUM, pyspiel.GameType.Utility.CONSTANT_SUM):
            problems.append("it is not zero-sum")
        if not t.provides_observation_tensor:
            problems.append("it has no observation tensor")
        if problems:
            raise ValueError(
                f"openspiel:{spec} does not fit move37 (two-player, zero-sum, perfect-information, "
                f"sequential, with an observation tensor): {'; '.join(problems)}."
            )
        self.name = f"openspiel:{spec}"
        self.openspiel = spec
        self.num_actions = self._game.num_distinct_actions()
        shape = list(self._game.observation_tensor_shape())
        if len(shape) == 1:
            shape = [1, 1, shape[0]]
        elif len(shape) == 2:
            shape = [shape[0], 1, shape[1]]
        elif len(shape) > 3:
            shape = [int(np.prod(shape[:-2])), shape[-2], shape[-1]]
        self.observation_shape = tuple(int(x) for x in shape)
        self._utility_mid = (self._game.min_utility() + self._game.max_utility()) / 2
        self._utility_half = (self._game.max_utility() - self._game.min_utility()) / 2 or 1.0
        self._names = None

    @property
    def spiel_game(self):
        return self._game

    def new_initial_state(self) -> "OpenSpielState":
        return OpenSpielState(self, self._game.new_initial_state())

    def _action_names(self) -> dict[str, int]:
        if self._names is None:
            s = self._game.new_initial_state()
            names = {}
            for player in (1, 0):  # player 0's spelling wins a clash
                for a in range(self.num_actions):
                    try:
                        names[s.action_to_string(player, a).strip().lower()] = a
                    except pyspiel.SpielError:
                        pass
            self._names = names
        return self._names

    def action_to_string(self, action: int) -> str:
        a = int(action)
        if not 0 <= a < self.num_actions:
            raise IllegalMoveError(f"{self.name}: action {action!r} is out of range 0..{self.num_actions - 1}.")
        return self._game.new_initial_state().action_to_string(0, a)

    def string_to_action(self, text: str) -> int:
        t = str(text).strip().lower()
        if t.isdigit() and int(t) < self.num_actions:
            return int(t)
        if t in self._action_names():
            return self._action_names()[t]
        raise ValueError(
            f"{self.name}: {text!r} is not a move; give an action id 0-{self.num_actions - 1} "
            f"or OpenSpiel's name for it."
        )

    def normalise_returns(self, raw) -> np.ndarray:
        """OpenSpiel's utilities mapped to [-1, 1] (win +1, loss -1, draw 0)."""
        r = (np.asarray(raw, dtype=np.float64) - self._utility_mid) / self._utility_half
        return np.clip(r, -1, 1).astype(np.float32)


class OpenSpielState(State):
    __slots__ = ("game", "_s", "_to_move")

    def __init__(self, game: OpenSpielGame, spiel_state, to_move: int = 0):
        self.game = game
        self._s = spiel_state
        p = spiel_state.current_player()
        self._to_move = p if p >= 0 else to_move

    @property
    def spiel_state(self):
        return self._s

    def current_player(self) -> int:
        return self._to_move

    def legal_mask(self) -> np.ndarray:
        mask = np.zeros(self.game.num_actions, dtype=np.bool_)
        if not self._s.is_terminal():
            mask[self._s.legal_actions()] = True
        return mask

    def legal_actions(self) -> np.ndarray:
        if self._s.is_terminal():
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self._s.legal_actions(), dtype=np.int64)

    def apply_action(self, action: int) -> None:
        a = as_action(action)
        if a is None:
            raise self._illegal(action)
        if self._s.is_terminal() or a not in self._s.legal_actions():
            raise self._illegal(action)
        mover = self._to_move
        self._s.apply_action(a)
        p = self._s.current_player()
        self._to_move = p if p >= 0 else 1 - mover

    def clone(self) -> "OpenSpielState":
        return OpenSpielState(self.game, self._s.clone(), self._to_move)

    def is_terminal(self) -> bool:
        return self._s.is_terminal()

    def returns(self) -> np.ndarray:
        if not self._s.is_terminal():
            return np.zeros(2, dtype=np.float32)
        return self.game.normalise_returns(self._s.returns())

    def observation(self) -> np.ndarray:
        obs = np.asarray(self._s.observation_tensor(self._to_move), dtype=np.float32)
        return obs.reshape(self.game.observation_shape)

    def history(self) -> list[int]:
        return list(self._s.history())

    def __str__(self) -> str:
        return str(self._s)


def _first_line(e: Exception) -> str:
    lines = [x for x in str(e).splitlines() if x.strip()]
    return lines[-1] if lines else type(e).__name__
