"""Tic-tac-toe: 3x3, three in a row. Actions as OpenSpiel's tic_tac_toe (row-major, a1 = 0)."""

from __future__ import annotations

from games.mnk import MNKGame
from games.notation import parse_point, point_name


class TicTacToe(MNKGame):
    def __init__(self):
        super().__init__("tictactoe", 3, 3, 3, gravity=False)
        self.openspiel = "tic_tac_toe"

    def action_to_string(self, action: int) -> str:
        a = self._check_action_id(action)
        return point_name(a // 3, a % 3, 3)

    def string_to_action(self, text: str) -> int:
        rc = parse_point(str(text), 3, 3)
        if rc is None:
            raise ValueError(f"tictactoe: {text!r} is not a cell; write a column a-c and a row 1-3, like b2.")
        return rc[0] * 3 + rc[1]
