"""Board text and coordinate notation shared by the native games (plain Python)."""

from __future__ import annotations

import string

LETTERS = string.ascii_lowercase
GO_LETTERS = "abcdefghjklmnopqrstuvwxyz"  # Go skips "i"


def column_letters(width: int, skip_i: bool = False) -> str:
    return (GO_LETTERS if skip_i else LETTERS)[:width]


def render_grid(
    cells,
    symbols: dict[int, str],
    *,
    height: int,
    width: int,
    skip_i: bool = False,
    rank1_at_bottom: bool = False,
    marked: int = -1,
    footer: str = "",
) -> str:
    """A board with column letters and row numbers; cell `marked` (the last move) in brackets.

    `cells[r * width + c]` is drawn at row label r + 1, column letter c.
    """
    letters = column_letters(width, skip_i).upper() if skip_i else column_letters(width, skip_i)
    pad = len(str(height))
    head = " " * (pad + 1) + " ".join(letters)
    rows = range(height - 1, -1, -1) if rank1_at_bottom else range(height)
    lines = [head]
    for r in rows:
        line = f"{r + 1:>{pad}} "
        for c in range(width):
            i = r * width + c
            sym = symbols[int(cells[i])]
            if i == marked:
                line = line[:-1] + "(" + sym + ")"
            else:
                line += sym + " "
        lines.append(line.rstrip() + f" {r + 1}")
    lines.append(head)
    if footer:
        lines.append(footer)
    return "\n".join(lines)


def parse_point(text: str, height: int, width: int, skip_i: bool = False) -> tuple[int, int] | None:
    """'d4' -> (row 3, col 3); None when the text is not a point on this board."""
    t = text.strip().lower()
    if len(t) < 2 or not t[1:].isdigit():
        return None
    letters = column_letters(width, skip_i)
    col = letters.find(t[0])
    row = int(t[1:]) - 1
    if col < 0 or not 0 <= row < height:
        return None
    return row, col


def point_name(row: int, col: int, width: int, skip_i: bool = False, upper: bool = False) -> str:
    name = f"{column_letters(width, skip_i)[col]}{row + 1}"
    return name.upper() if upper else name
