"""Go, the game: parameters, notation, scoring helpers and position setup over the kernels in
games/go_kernels.py (rules, state layout and rule sets are described there).

Actions as OpenSpiel's go: point r * n + c with row 0 = rank 1 (a1 = 0), n * n = pass.
"""

from __future__ import annotations

import numpy as np

from games import go_kernels
from games.base import grid_symmetries
from games.go_kernels import (_HASH, _HEADER, _KO, _LAST, _OUTCOME, _PLY, _TO_PLAY, _ZOBRIST, MAX_SIZE, RULES,
                              _flood, _ownership, _score, _scratch)
from games.native import NativeGame, NativeState
from games.notation import parse_point, point_name, render_grid


class Go(NativeGame, kernels=vars(go_kernels)):
    symbols = {0: ".", 1: "X", 2: "O"}

    def __init__(self, size: int = 19, komi: float = 7.5, rules: str = "chinese", max_moves: int | None = None):
        size = int(size)
        if not 2 <= size <= MAX_SIZE:
            raise ValueError(f"go: size must be between 2 and {MAX_SIZE}, not {size}.")
        if rules not in RULES:
            raise ValueError(f"go: rules must be one of {', '.join(RULES)}, not {rules!r}.")
        komi = float(komi)
        if komi * 2 != int(komi * 2):
            raise ValueError(f"go: komi must be a multiple of 0.5, not {komi}.")
        if max_moves is None:
            max_moves = (3 if rules == "chinese" else 2) * size * size
        if int(max_moves) < 2:
            raise ValueError("go: max_moves must be at least 2.")
        self.size, self.komi, self.rules, self.max_moves = size, komi, rules, int(max_moves)
        self.name = f"go{size}"
        self.openspiel = f"go(board_size={size},komi={komi})"
        self.num_actions = size * size + 1
        self.pass_action = size * size
        self.observation_shape = (4, size, size)
        self.state_size = _HEADER + size * size + self.max_moves + 1
        self.consts = go_kernels.GoRules(np.int64(size), np.float64(komi), np.int64(RULES[rules]),
                                         np.int64(self.max_moves))

    def initial_array(self) -> np.ndarray:
        s = np.zeros(self.state_size, dtype=np.int64)
        s[_LAST] = -1
        s[_KO] = -1
        return s

    def state_from_stones(self, black=(), white=(), to_play: int = 0) -> NativeState:
        """A position with these stones (action ids), which becomes the first position of the
        game's history, as SGF setup stones and handicap stones do. No group may be left
        without liberties."""
        n = self.size
        s = self.initial_array()
        h = 0
        for colour, points in ((1, black), (2, white)):
            for p in points:
                p = int(p)
                if not 0 <= p < n * n:
                    raise ValueError(f"{self.name}: setup point {p} is off the board.")
                if s[_HEADER + p]:
                    raise ValueError(f"{self.name}: setup point {self.action_to_string(p)} is given twice.")
                s[_HEADER + p] = colour
                h ^= int(_ZOBRIST[colour - 1, p])
        s[_HASH] = h
        s[_HEADER + n * n] = h
        s[_TO_PLAY] = int(to_play)
        state = NativeState(self, s, [])
        nbr, mark, stack, found = _scratch(np.int64(n))
        board = s[_HEADER : _HEADER + n * n]
        for p in np.flatnonzero(board):
            if _flood(board, np.int64(p), nbr, mark, stack, found, 1)[1] == 0:
                raise ValueError(f"{self.name}: the group at {self.action_to_string(int(p))} has no liberty.")
        return state

    def state_from_board(self, diagram: str | list[str], to_play: int = 0) -> NativeState:
        """A position from a diagram, rank n first: 'X' black, 'O' white, '.' empty (spaces
        ignored); see state_from_stones."""
        rows = diagram.strip().splitlines() if isinstance(diagram, str) else list(diagram)
        rows = [r.replace(" ", "") for r in rows if r.strip()]
        n = self.size
        if len(rows) != n or any(len(r) != n for r in rows):
            raise ValueError(f"{self.name}: a diagram needs {n} rows of {n} points.")
        stones: dict[int, list[int]] = {1: [], 2: []}
        for i, row in enumerate(rows):
            for c, ch in enumerate(row):
                v = {".": 0, "+": 0, "X": 1, "x": 1, "O": 2, "o": 2}.get(ch)
                if v is None:
                    raise ValueError(f"{self.name}: unknown point {ch!r} in the diagram (use X, O or .).")
                if v:
                    stones[v].append((n - 1 - i) * n + c)
        return self.state_from_stones(stones[1], stones[2], to_play)

    @staticmethod
    def set_to_play(state: NativeState, player: int) -> None:
        """Give the move to `player` (GTP and SGF may have one colour move twice in a row)."""
        state.array[_TO_PLAY] = int(player)
        state._mask = None

    def describe(self) -> str:
        return super().describe() + f" (komi {self.komi}, {self.rules} rules)"

    @property
    def symmetries(self):
        return grid_symmetries(self.size, self.size, self.num_actions)

    def board(self, state: NativeState) -> np.ndarray:
        """(n, n) points, row 0 = rank 1: 0 empty, 1 black, 2 white."""
        return state.array[_HEADER : _HEADER + self.size**2].reshape(self.size, self.size)

    def areas(self, state: NativeState) -> tuple[int, int]:
        """(Black's area, White's area): stones plus empty regions reaching only that colour."""
        b, w = _score(state.array, np.int64(self.size))
        return int(b), int(w)

    def ownership(self, state: NativeState) -> np.ndarray:
        """(n, n) area-scoring owner of every point, row 0 = rank 1: +1 Black's (player 0),
        -1 White's, 0 neither. At the end of a game it is the auxiliary training target that
        tells the network where the score came from (see docs/METHODS.md)."""
        owner = _ownership(state.array, np.int64(self.size)).reshape(self.size, self.size)
        return np.where(owner == 1, 1.0, np.where(owner == 2, -1.0, 0.0)).astype(np.float32)

    def area_score(self, state: NativeState) -> float:
        """Black's area minus White's area minus komi (positive: Black leads)."""
        b, w = self.areas(state)
        return b - w - self.komi

    def result_string(self, state: NativeState) -> str:
        """SGF-style result: "B+3.5", "W+0.5", or "0" for a draw (an even score, or a
        repetition under OpenSpiel's rules); for an unfinished game, the area count as it stands."""
        if state.is_terminal() and state.array[_OUTCOME] == 0:
            return "0"
        score = self.area_score(state)
        if score == 0:
            return "0"
        return f"B+{score:g}" if score > 0 else f"W+{-score:g}"

    def action_to_string(self, action: int) -> str:
        a = self._check_action_id(action)
        if a == self.pass_action:
            return "pass"
        return point_name(a // self.size, a % self.size, self.size, skip_i=True, upper=True)

    def string_to_action(self, text: str) -> int:
        t = str(text).strip().lower()
        if t == "pass":
            return self.pass_action
        rc = parse_point(t, self.size, self.size, skip_i=True)
        if rc is None:
            last = "ABCDEFGHJKLMNOPQRST"[self.size - 1]
            raise ValueError(
                f"{self.name}: {text!r} is not a point; write a column A-{last} (no I) "
                f"and a row 1-{self.size}, like D4, or pass."
            )
        return rc[0] * self.size + rc[1]

    def render(self, state: NativeState) -> str:
        s = state.array
        if state.is_terminal():
            status = f"game over: {self.result_string(state)}"
        else:
            status = ("X (black)" if state.current_player() == 0 else "O (white)") + " to move"
        last = state.last_action()
        return render_grid(
            s[_HEADER : _HEADER + self.size**2],
            self.symbols,
            height=self.size,
            width=self.size,
            skip_i=True,
            rank1_at_bottom=True,
            marked=last if 0 <= last < self.pass_action else -1,
            footer=f"move {s[_PLY]}, komi {self.komi:g}, {self.rules} rules; {status}",
        )
