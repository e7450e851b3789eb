"""Gomoku (free-style): five or more in a row on a 15x15 board. Actions as OpenSpiel's gomoku
(row-major cell index); notation is a column letter and a row number, like h8."""

from __future__ import annotations

from games.mnk import MNKGame
from games.notation import LETTERS, parse_point, point_name


class Gomoku(MNKGame):
    def __init__(self, size: int = 15, connect: int = 5):
        if not 5 <= int(size) <= 26:
            raise ValueError(f"gomoku: size must be between 5 and 26, not {size}.")
        super().__init__("gomoku", int(size), int(size), int(connect), gravity=False)
        self.openspiel = f"gomoku(size={self.width},connect={self.connect})"

    def action_to_string(self, action: int) -> str:
        a = self._check_action_id(action)
        return point_name(a // self.width, a % self.width, self.width)

    def string_to_action(self, text: str) -> int:
        rc = parse_point(str(text), self.height, self.width)
        if rc is None:
            raise ValueError(
                f"gomoku: {text!r} is not a point; write a column a-{LETTERS[self.width - 1]} "
                f"and a row 1-{self.height}, like h8."
            )
        return rc[0] * self.width + rc[1]
