"""The one Game/State interface that every game (native or OpenSpiel) meets.

Search, self-play, terminal play and GTP only ever talk to these two classes, so a new
game needs nothing but an implementation of them.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


class IllegalMoveError(ValueError):
    """An action that the rules do not allow in this state (or that is not an action at all)."""


class UnknownGameError(ValueError):
    """A game name that `games.make` does not know."""


@dataclass(frozen=True)
class Symmetry:
    """A board symmetry under which the rules are invariant.

    `action_perm[a]` is the image of action `a`; `transform` maps an observation
    (C, H, W) or a batch (..., C, H, W) to its image. Used for training augmentation.
    """

    name: str
    action_perm: np.ndarray
    transform: Callable[[np.ndarray], np.ndarray]


def as_action(value) -> int | None:
    """An action id from an integer (Python or numpy); None for anything else (2.5, "3")."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


class State:
    """A game position. Mutable through `apply_action`; `child` and `clone` copy."""

    game: "Game"

    def current_player(self) -> int:
        raise NotImplementedError

    def legal_mask(self) -> np.ndarray:
        raise NotImplementedError

    def legal_actions(self) -> np.ndarray:
        return np.flatnonzero(self.legal_mask()).astype(np.int64)

    def apply_action(self, action: int) -> None:
        raise NotImplementedError

    def child(self, action: int) -> "State":
        c = self.clone()
        c.apply_action(action)
        return c

    def clone(self) -> "State":
        raise NotImplementedError

    def is_terminal(self) -> bool:
        raise NotImplementedError

    def returns(self) -> np.ndarray:
        """Per-player outcome: +1 win, -1 loss, 0 draw (all zero before the end)."""
        raise NotImplementedError

    def observation(self) -> np.ndarray:
        raise NotImplementedError

    def history(self) -> list[int]:
        raise NotImplementedError

    def _illegal(self, action) -> IllegalMoveError:
        try:
            name = self.game.action_to_string(int(action))
        except Exception:  # an id outside the action range has no name
            name = repr(action)
        if self.is_terminal():
            why = "the game is over"
        else:
            why = "it is not legal here"
        return IllegalMoveError(f"{self.game.name}: move {name} (action {action!r}) is illegal: {why}.")


class Game:
    """Static description of a game: its actions, observations, notation and symmetries."""

    name: str
    num_actions: int
    observation_shape: tuple[int, int, int]
    num_players: int = 2
    # whether one move can end the game with a win for its player (k in a row: yes; Go, Othello:
    # not in a way worth checking); search's win_check looks for such moves only in these games
    wins_in_one_move: bool = False
    # the pyspiel game string with the same action ids (None: no counterpart). Rules are equal
    # where the differential tests say so (Go: with rules="openspiel"); openspiel-mcts, the
    # benchmarks and those tests all read this one attribute.
    openspiel: str | None = None

    def new_initial_state(self) -> State:
        raise NotImplementedError

    def action_to_string(self, action: int) -> str:
        raise NotImplementedError

    def string_to_action(self, text: str) -> int:
        raise NotImplementedError

    @property
    def symmetries(self) -> Sequence[Symmetry]:
        return (identity_symmetry(self.num_actions),)

    def describe(self) -> str:
        """One line for `move37 games`."""
        c, h, w = self.observation_shape
        return f"{self.name}: {self.num_actions} actions, observation {c}x{h}x{w}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def identity_symmetry(num_actions: int) -> Symmetry:
    return Symmetry("identity", np.arange(num_actions), lambda x: x)


def _grid_transform(k: int, flip: bool) -> Callable[[np.ndarray], np.ndarray]:
    def transform(x: np.ndarray) -> np.ndarray:
        y = np.flip(x, axis=-1) if flip else x
        return np.ascontiguousarray(np.rot90(y, k, axes=(-2, -1)))

    return transform


_DIHEDRAL = [(k, f) for f in (False, True) for k in range(4)]


def grid_symmetries(height: int, width: int, num_actions: int, *, which=None) -> tuple[Symmetry, ...]:
    """Symmetries of a board whose cell (r, c) is action r * width + c and observation [:, r, c].

    Actions beyond the grid (a pass) map to themselves. `which` picks a subset of the
    eight (rotation k, mirrored) pairs; non-square boards keep only those mapping the
    board onto itself.
    """
    cells = np.arange(height * width).reshape(height, width)
    out = []
    for k, flip in which or _DIHEDRAL:
        t = _grid_transform(k, flip)
        image = t(cells)
        if image.shape != cells.shape:
            continue
        perm = np.arange(num_actions)
        # image[r, c] = old cell that lands on (r, c), so old cell -> (r, c)
        perm[image.ravel()] = np.arange(height * width)
        out.append(Symmetry(f"rot{90 * k}" + ("+mirror" if flip else ""), perm, t))
    return tuple(out)
