"""Connect Four: 6 rows x 7 columns, four in a row, stones fall. Action = column, as
OpenSpiel's connect_four."""

from __future__ import annotations

from games.mnk import MNKGame
from games.notation import LETTERS


class Connect4(MNKGame):
    def __init__(self, rows: int = 6, columns: int = 7, connect: int = 4):
        super().__init__("connect4", rows, columns, connect, gravity=True)
        self.openspiel = f"connect_four(rows={self.height},columns={self.width},x_in_row={self.connect})"

    def action_to_string(self, action: int) -> str:
        return LETTERS[self._check_action_id(action)]

    def string_to_action(self, text: str) -> int:
        t = str(text).strip().lower()
        if t.isdigit() and int(t) < self.width:
            return int(t)
        if len(t) == 1 and t in LETTERS[: self.width]:
            return LETTERS.index(t)
        raise ValueError(
            f"connect4: {text!r} is not a column; write a letter a-{LETTERS[self.width - 1]} "
            f"or a number 0-{self.width - 1}."
        )

    def render(self, state) -> str:
        text = super().render(state)
        return text + f"\n(columns a-{LETTERS[self.width - 1]}, or 0-{self.width - 1})"
