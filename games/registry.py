"""Game names -> Game objects."""

from __future__ import annotations

import re
from typing import Callable

from games.base import Game, UnknownGameError


def _tictactoe(**p):
    from games.tictactoe import TicTacToe

    return TicTacToe(**p)


def _connect4(**p):
    from games.connect4 import Connect4

    return Connect4(**p)


def _gomoku(**p):
    from games.gomoku import Gomoku

    return Gomoku(**p)


def _othello(**p):
    from games.othello import Othello

    return Othello(**p)


def _go(size: int = 19, **p):
    from games.go import Go

    return Go(size=size, **p)


_NATIVE: dict[str, Callable[..., Game]] = {
    "tictactoe": _tictactoe,
    "connect4": _connect4,
    "gomoku": _gomoku,
    "othello": _othello,
    "go": _go,
    "go9": lambda **p: _go(size=9, **p),
    "go13": lambda **p: _go(size=13, **p),
    "go19": lambda **p: _go(size=19, **p),
}
_PARAM = re.compile(r"^(?P<name>[a-z0-9_]+)\((?P<args>.*)\)$")


def available() -> list[str]:
    """Native game names, then the OpenSpiel form that takes any fitting pyspiel game."""
    return list(_NATIVE) + ["openspiel:NAME"]


def _parse_value(text: str):
    t = text.strip()
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(t.lower(), t)


def parse_spec(spec: str) -> tuple[str, dict]:
    """'go(size=9,komi=6.5)' -> ('go', {'size': 9, 'komi': 6.5})."""
    m = _PARAM.match(spec.strip())
    if not m:
        return spec.strip(), {}
    params = {}
    for part in filter(None, (x.strip() for x in m.group("args").split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"game parameter {part!r} in {spec!r} is not of the form key=value.")
        params[key.strip()] = _parse_value(value)
    return m.group("name"), params


def make(name: str, **params) -> Game:
    """Build a game by name: a native game (params as keyword arguments or in parentheses,
    `go(size=9)`) or `openspiel:NAME[(k=v,...)]`."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownGameError(f"a game name is needed; available: {', '.join(available())}.")
    if name.startswith("openspiel:"):
        from games.openspiel_adapter import OpenSpielGame

        if params:
            raise ValueError("give OpenSpiel parameters inside the name, like openspiel:hex(board_size=7).")
        return OpenSpielGame(name[len("openspiel:") :])
    base, inline = parse_spec(name.lower())
    if base not in _NATIVE:
        raise UnknownGameError(f"unknown game {name!r}; available: {', '.join(available())}.")
    try:
        return _NATIVE[base](**inline, **params)
    except TypeError as e:
        raise ValueError(f"{base}: bad parameters {dict(**inline, **params)}: {e}.") from None
