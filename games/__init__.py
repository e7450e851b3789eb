"""The rules: numba-native games, the OpenSpiel adapter, gymnasium environments.

    games.make("connect4"); games.make("go", size=9, rules="openspiel")
    games.make("openspiel:hex(board_size=7)")
"""

from games import numba_cache  # noqa: F401  (first: numba's cache directory before any kernel)
from games.base import Game, IllegalMoveError, State, Symmetry, UnknownGameError
from games.registry import available, make

__all__ = ["Game", "State", "Symmetry", "IllegalMoveError", "UnknownGameError", "make", "available"]
