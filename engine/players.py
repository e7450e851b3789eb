"""Players: `make_player(spec, game) -> Player`, from the spec strings shared by the CLI and
the Python API. Each player answers `select_action(state) -> int`."""

from __future__ import annotations

import numpy as np

from games.base import Game, State

SPEC_FORMS = ["random", "human"]


class PlayerSpecError(ValueError):
    """A player spec that does not name a player this build knows."""


class Player:
    name = "player"

    def select_action(self, state: State) -> int:
        raise NotImplementedError

    def new_game(self) -> None:
        """Forget anything carried over from an earlier game."""


class RandomPlayer(Player):
    name = "random"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def select_action(self, state: State) -> int:
        return int(self.rng.choice(state.legal_actions()))


class HumanPlayer(Player):
    """Reads moves from the terminal; see engine.terminal for the commands it accepts."""

    name = "human"

    def __init__(self, game: Game, ask=input, say=print):
        self.game, self.ask, self.say = game, ask, say

    def select_action(self, state: State) -> int:
        from engine.terminal import read_move

        move = read_move(state, self.ask, self.say, allow_commands=False)
        if move is None:
            raise EOFError("no more input")
        return move


def make_player(spec: str, game: Game, seed: int | None = None) -> Player:
    s = str(spec).strip().lower()
    if s == "random":
        return RandomPlayer(seed)
    if s == "human":
        return HumanPlayer(game)
    raise PlayerSpecError(f"unknown player {spec!r}; valid forms: {', '.join(SPEC_FORMS)}.")
