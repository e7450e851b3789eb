"""SGF (FF[4]) records of Go games: write what the engine plays, read positions to set up.

Only the main line matters here: reading follows the first variation of every branch.
Coordinates: SGF's column letter then row letter, rows counted from the top ("aa" is the
top-left point, A19 on a 19x19 board); a pass is an empty value ("B[]", or "tt" on boards up
to 19x19 in older files).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

import games
from games.base import IllegalMoveError


class SgfError(ValueError):
    """An SGF text that cannot be read, with where the problem is."""


@dataclass
class GoRecord:
    size: int = 19
    komi: float = 7.5
    rules: str = "Chinese"
    black_name: str = ""
    white_name: str = ""
    result: str = ""
    setup_black: list[int] = field(default_factory=list)  # action ids
    setup_white: list[int] = field(default_factory=list)
    first_player: int | None = None  # PL[], when given
    moves: list[tuple[int, int]] = field(default_factory=list)  # (player, action id)


# ---- writing -------------------------------------------------------------------------------

def _point(action: int, size: int) -> str:
    if action == size * size:
        return ""
    r, c = divmod(action, size)
    return chr(ord("a") + c) + chr(ord("a") + size - 1 - r)


def _escape(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("]", "\\]")


def write(record: GoRecord, application: str = "move37") -> str:
    props = [f"FF[4]GM[1]CA[UTF-8]AP[{_escape(application)}]SZ[{record.size}]KM[{record.komi:g}]",
             f"RU[{_escape(record.rules)}]DT[{datetime.date.today().isoformat()}]"]
    if record.black_name:
        props.append(f"PB[{_escape(record.black_name)}]")
    if record.white_name:
        props.append(f"PW[{_escape(record.white_name)}]")
    if record.result:
        props.append(f"RE[{_escape(record.result)}]")
    if record.setup_black:
        props.append("AB" + "".join(f"[{_point(p, record.size)}]" for p in record.setup_black))
    if record.setup_white:
        props.append("AW" + "".join(f"[{_point(p, record.size)}]" for p in record.setup_white))
    if record.first_player is not None:
        props.append(f"PL[{'BW'[record.first_player]}]")
    body = "".join(f";{'BW'[player]}[{_point(a, record.size)}]" for player, a in record.moves)
    return f"(;{''.join(props)}\n{body})\n"


# ---- reading -------------------------------------------------------------------------------

class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def where(self, i: int | None = None) -> str:
        i = self.i if i is None else i
        line = self.text.count("\n", 0, i) + 1
        col = i - (self.text.rfind("\n", 0, i) + 1) + 1
        return f"line {line}, column {col}"

    def fail(self, message: str, i: int | None = None):
        raise SgfError(f"SGF: {message} at {self.where(i)}.")

    def skip_space(self):
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.i] if self.i < len(self.text) else ""

    def expect(self, ch: str):
        if self.peek() != ch:
            found = repr(self.peek()) if self.peek() else "the end of the file"
            self.fail(f"expected {ch!r} but found {found}")
        self.i += 1

    def value(self) -> str:
        self.expect("[")
        start = self.i
        out = []
        while self.i < len(self.text):
            ch = self.text[self.i]
            if ch == "\\":
                self.i += 1
                if self.i < len(self.text) and self.text[self.i] != "\n":
                    out.append(self.text[self.i])
            elif ch == "]":
                self.i += 1
                return "".join(out)
            else:
                out.append(ch)
            self.i += 1
        self.fail("a property value is not closed with ']'", start - 1)

    def node(self) -> list[tuple[str, list[str], int]]:
        self.expect(";")
        props = []
        while True:
            ch = self.peek()
            if not ch or not ch.isalpha():
                return props
            start = self.i
            while self.i < len(self.text) and self.text[self.i].isalpha():
                self.i += 1
            name = "".join(c for c in self.text[start:self.i] if c.isupper())
            if not name:
                self.fail("a property name needs capital letters", start)
            values = []
            while self.peek() == "[":
                values.append(self.value())
            if not values:
                self.fail(f"property {name} has no value", start)
            props.append((name, values, start))

    def main_line(self) -> list[list[tuple[str, list[str], int]]]:
        """The nodes of the first variation, from the root."""
        nodes = []
        self.expect("(")
        depth = 1
        while True:
            ch = self.peek()
            if ch == ";":
                nodes.append(self.node())
            elif ch == "(":
                self.i += 1
                depth += 1
            elif ch == ")":
                self.i += 1
                depth -= 1
                if depth == 0:
                    return nodes
                self._skip_siblings()
                return nodes
            elif not ch:
                self.fail("the game tree is not closed with ')'")
            else:
                self.fail(f"unexpected {ch!r}")

    def _skip_siblings(self):
        """After the first variation ends, ignore the rest of the file's tree."""
        self.i = len(self.text)


def _parse_point(value: str, size: int, reader: _Reader, at: int) -> int:
    v = value.strip().lower()
    if v == "" or (v == "tt" and size <= 19):
        return size * size
    if len(v) != 2 or not all("a" <= ch <= "z" for ch in v):
        reader.fail(f"{value!r} is not a point", at)
    c, r = ord(v[0]) - ord("a"), ord(v[1]) - ord("a")
    if not (0 <= c < size and 0 <= r < size):
        reader.fail(f"point {value!r} is off the {size}x{size} board", at)
    return (size - 1 - r) * size + c


def read(text: str) -> GoRecord:
    reader = _Reader(text)
    if not text.strip():
        raise SgfError("SGF: the file is empty.")
    nodes = reader.main_line()
    if not nodes:
        reader.fail("the game tree has no nodes")
    record = GoRecord()
    root = {name: (values, at) for name, values, at in nodes[0]}
    if "GM" in root and root["GM"][0][0].strip() != "1":
        reader.fail("this is not a Go record (GM is not 1)", root["GM"][1])
    if "SZ" in root:
        values, at = root["SZ"]
        try:
            record.size = int(values[0].split(":")[0])
        except ValueError:
            reader.fail(f"board size {values[0]!r} is not a number", at)
        if not 2 <= record.size <= 19:
            reader.fail(f"board size {record.size} is not supported (2 to 19)", at)
    if "KM" in root:
        values, at = root["KM"]
        try:
            record.komi = float(values[0])
        except ValueError:
            reader.fail(f"komi {values[0]!r} is not a number", at)
    for key, attr in (("RU", "rules"), ("PB", "black_name"), ("PW", "white_name"), ("RE", "result")):
        if key in root:
            setattr(record, attr, root[key][0][0])
    for node in nodes:
        for name, values, at in node:
            if name in ("AB", "AW"):
                target = record.setup_black if name == "AB" else record.setup_white
                for v in values:
                    for p in _expand_points(v, record.size, reader, at):
                        target.append(p)
            elif name == "PL":
                record.first_player = 0 if values[0].strip().upper().startswith("B") else 1
            elif name in ("B", "W"):
                record.moves.append((0 if name == "B" else 1, _parse_point(values[0], record.size, reader, at)))
    return record


def _expand_points(value: str, size: int, reader: _Reader, at: int) -> list[int]:
    """A point or a compressed rectangle "aa:cc"."""
    if ":" not in value:
        return [_parse_point(value, size, reader, at)]
    a, b = value.split(":", 1)
    pa, pb = _parse_point(a, size, reader, at), _parse_point(b, size, reader, at)
    (r1, c1), (r2, c2) = divmod(pa, size), divmod(pb, size)
    return [r * size + c for r in range(min(r1, r2), max(r1, r2) + 1) for c in range(min(c1, c2), max(c1, c2) + 1)]


# ---- records <-> states -----------------------------------------------------------------------

def to_state(record: GoRecord, rules: str = "chinese", upto: int | None = None, game=None):
    """(game, state) after the record's setup and its first `upto` moves (all by default).

    `game` is reused when it has the record's size, komi and rules. A move by the player not
    on turn gives that player the turn (SGF allows it); an illegal move is an SgfError naming
    its number.
    """
    if game is None or (game.size, game.komi, game.rules) != (record.size, record.komi, rules):
        game = games.make("go", size=record.size, komi=record.komi, rules=rules)
    first = record.first_player
    if first is None:
        first = record.moves[0][0] if record.moves else (1 if record.setup_black and not record.setup_white else 0)
    try:
        state = game.state_from_stones(record.setup_black, record.setup_white, to_play=first)
    except ValueError as e:
        raise SgfError(f"SGF: bad setup stones: {e}") from None
    for number, (player, action) in enumerate(record.moves[:upto], start=1):
        if state.is_terminal():
            raise SgfError(f"SGF: move {number} comes after the end of the game.")
        if state.current_player() != player:
            game.set_to_play(state, player)
        try:
            state.apply_action(action)
        except IllegalMoveError:
            raise SgfError(f"SGF: move {number} ({'BW'[player]} {game.action_to_string(action)}) is illegal.") from None
    return game, state


def load(path: str, rules: str = "chinese", upto: int | None = None):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise SgfError(f"cannot read SGF file {path}: {e.strerror}.") from None
    return to_state(read(text), rules, upto)
