"""A GTP (version 2) engine for Go: `move37 gtp --agent SPEC`, for GoGui, Sabaki, Lizzie,
GNU Go matches and any other GTP controller.

Every malformed, unknown or illegal command gets a `? message` reply and the engine goes on.
Empty lines (and comments) are ignored, as the protocol says. `lz-analyze` streams Leela
Zero-style analysis until the next command arrives; `genmove_analyze` does the same while it
thinks and ends with `play VERTEX`.
"""

from __future__ import annotations

import re
import sys
import threading
import time

from engine.play import sgf
from engine.play.analysis import top_moves
from engine.play.base import PlayerSpecError, Resigned
from engine.play.specs import make_player

VERSION = "0.1.0"


class GtpFailure(Exception):
    """A command that cannot be carried out: its message goes back after '? '."""


def handicap_points(size: int, n: int) -> list[tuple[int, int]]:
    """GTP's fixed handicap placement as (row, col), row 0 = rank 1."""
    if size < 7 or not 2 <= n <= (9 if size % 2 else 4):
        raise GtpFailure("invalid number of stones")
    e = 3 if size >= 13 else 2
    lo, hi, mid = e, size - 1 - e, size // 2
    corners = [(lo, lo), (hi, hi), (hi, lo), (lo, hi)]
    sides = [(mid, lo), (mid, hi), (lo, mid), (hi, mid)]
    points = corners[: min(n, 4)]
    if n in (5, 7, 9):
        points = corners + sides[: n - 5] + [(mid, mid)]
    elif n in (6, 8):
        points = corners + sides[: n - 4]
    return points


class GtpEngine:
    def __init__(self, agent_spec: str = "mcts:2000", size: int = 19, komi: float = 7.5, rules: str = "chinese",
                 resign_below: float | None = None, seed: int | None = None, out=None):
        self.agent_spec = agent_spec
        self.rules = rules
        self.resign_below = resign_below
        self.seed = seed
        self.out = out or sys.stdout
        self.lock = threading.Lock()
        self.analysis: tuple[threading.Thread, threading.Event] | None = None
        self.time_settings: tuple[float, float, int] | None = None
        self.time_left: dict[int, tuple[float, int]] = {}
        self.running = True
        self.record = sgf.GoRecord(size=size, komi=komi, rules=rules.capitalize())
        self._new_game()
        self.commands = {
            "protocol_version": lambda a: "2",
            "name": lambda a: "move37",
            "version": lambda a: VERSION,
            "known_command": self.cmd_known_command,
            "list_commands": lambda a: "\n".join(sorted(self.commands)),
            "quit": self.cmd_quit,
            "boardsize": self.cmd_boardsize,
            "clear_board": self.cmd_clear_board,
            "komi": self.cmd_komi,
            "play": self.cmd_play,
            "genmove": self.cmd_genmove,
            "kgs-genmove_cleanup": self.cmd_genmove,
            "undo": self.cmd_undo,
            "showboard": lambda a: "\n" + str(self.state),
            "final_score": lambda a: self.game.result_string(self.state),
            "fixed_handicap": self.cmd_fixed_handicap,
            "place_free_handicap": self.cmd_fixed_handicap,
            "set_free_handicap": self.cmd_set_free_handicap,
            "time_settings": self.cmd_time_settings,
            "time_left": self.cmd_time_left,
            "loadsgf": self.cmd_loadsgf,
            "printsgf": self.cmd_printsgf,
            "genmove_analyze": self.cmd_genmove_analyze,
            "lz-genmove_analyze": self.cmd_genmove_analyze,
            "lz-analyze": self.cmd_analyze,
        }

    # ---- position ------------------------------------------------------------------------
    def _new_game(self) -> None:
        self.record.setup_black, self.record.setup_white, self.record.moves = [], [], []
        self.record.first_player = None
        self._rebuild()

    def _rebuild(self) -> None:
        """The position from the record; a new game object (and agent) only when the board
        size, komi or rules changed, so the agent keeps its search tree otherwise."""
        old = getattr(self, "game", None)
        self.game, self.state = sgf.to_state(self.record, self.rules, game=old)
        if self.game is not old:
            try:
                self.agent = make_player(self.agent_spec, self.game, seed=self.seed)
            except PlayerSpecError as e:
                raise GtpFailure(str(e)) from None

    def _colour(self, text: str) -> int:
        t = text.lower()
        if t in ("b", "black"):
            return 0
        if t in ("w", "white"):
            return 1
        raise GtpFailure("invalid color")

    def _vertex(self, text: str) -> int:
        try:
            return self.game.string_to_action(text)
        except ValueError:
            raise GtpFailure("invalid coordinate") from None

    def _vertex_name(self, action: int) -> str:
        return self.game.action_to_string(action)

    def _apply(self, player: int, action: int) -> None:
        if self.state.is_terminal():
            raise GtpFailure("illegal move (the game is over)")
        if self.state.current_player() != player:
            self.game.set_to_play(self.state, player)
        if not self.state.legal_mask()[action]:
            self._rebuild()  # undo the change of turn
            raise GtpFailure("illegal move")
        self.state.apply_action(action)
        self.record.moves.append((player, action))

    # ---- commands ------------------------------------------------------------------------
    def cmd_known_command(self, args):
        if len(args) != 1:
            raise GtpFailure("syntax error: known_command COMMAND")
        return "true" if args[0] in self.commands else "false"

    def cmd_quit(self, args):
        self.running = False
        return ""

    def cmd_boardsize(self, args):
        try:
            size = int(args[0])
        except (IndexError, ValueError):
            raise GtpFailure("boardsize is not an integer") from None
        if not 2 <= size <= 19:
            raise GtpFailure("unacceptable size")
        self.record.size = size
        self._new_game()
        return ""

    def cmd_clear_board(self, args):
        self._new_game()
        return ""

    def cmd_komi(self, args):
        try:
            komi = float(args[0])
        except (IndexError, ValueError):
            raise GtpFailure("komi is not a number") from None
        if komi * 2 != int(komi * 2) or abs(komi) > 1000:
            raise GtpFailure("komi must be a multiple of 0.5")
        self.record.komi = komi
        self._rebuild()
        return ""

    def cmd_play(self, args):
        if len(args) < 2:
            raise GtpFailure("syntax error: play COLOR VERTEX")
        self._apply(self._colour(args[0]), self._vertex(args[1]))
        return ""

    def _budget(self, player: int) -> float | None:
        """Seconds for this move under the time settings, or None without a clock."""
        if self.time_settings is None:
            return None
        main, byo_time, byo_stones = self.time_settings
        if main == 0 and byo_time > 0 and byo_stones == 0:
            return None  # GTP's way of saying: no time limit
        left, stones = self.time_left.get(player, (main, 0))
        if stones > 0:  # in byo-yomi: share the period's time among its stones
            return max(0.05, 0.8 * left / stones)
        moves_left = max(10, (self.game.size**2 - len(self.record.moves)) // 3)
        extra = 0.8 * byo_time / byo_stones if byo_stones else 0.0
        return max(0.05, 0.9 * left / moves_left + extra)

    def _think(self, player: int, progress=None) -> int | None:
        """The agent's move for `player`; None means it resigns."""
        if self.state.is_terminal():
            raise GtpFailure("the game is over")
        if self.state.current_player() != player:
            self.game.set_to_play(self.state, player)
        state = self.state.clone()
        if hasattr(self.agent, "search"):
            result = self.agent.search(state, progress=progress, seconds=self._budget(player))
            action = int(result.action[0])
            if self.resign_below is not None and result.root_value[0] < self.resign_below:
                return None
        else:
            try:
                action = int(self.agent.select_action(state))
            except Resigned:
                return None
        return action

    def cmd_genmove(self, args):
        if not args:
            raise GtpFailure("syntax error: genmove COLOR")
        player = self._colour(args[0])
        action = self._think(player)
        if action is None:
            return "resign"
        self._apply(player, action)
        return self._vertex_name(action)

    def cmd_undo(self, args):
        if not self.record.moves:
            raise GtpFailure("cannot undo")
        self.record.moves.pop()
        self._rebuild()
        return ""

    def cmd_fixed_handicap(self, args):
        try:
            n = int(args[0])
        except (IndexError, ValueError):
            raise GtpFailure("invalid number of stones") from None
        self._require_empty_board()
        points = [r * self.game.size + c for r, c in handicap_points(self.game.size, n)]
        self._set_handicap(points)
        return " ".join(self._vertex_name(p) for p in points)

    def cmd_set_free_handicap(self, args):
        self._require_empty_board()
        points = [self._vertex(v) for v in args]
        if len(points) < 2 or len(set(points)) != len(points) or self.game.pass_action in points:
            raise GtpFailure("bad vertex list")
        self._set_handicap(points)
        return ""

    def _require_empty_board(self) -> None:
        if self.record.moves or self.record.setup_black or self.record.setup_white:
            raise GtpFailure("board not empty")

    def _set_handicap(self, points: list[int]) -> None:
        self.record.setup_black = list(points)
        self.record.first_player = 1
        self._rebuild()

    def cmd_time_settings(self, args):
        try:
            main, byo_time, byo_stones = float(args[0]), float(args[1]), int(args[2])
        except (IndexError, ValueError):
            raise GtpFailure("syntax error: time_settings MAIN BYO_TIME BYO_STONES") from None
        if main < 0 or byo_time < 0 or byo_stones < 0:
            raise GtpFailure("time settings cannot be negative")
        self.time_settings = (main, byo_time, byo_stones)
        self.time_left = {}
        return ""

    def cmd_time_left(self, args):
        try:
            player, seconds, stones = self._colour(args[0]), float(args[1]), int(args[2])
        except (IndexError, ValueError):
            raise GtpFailure("syntax error: time_left COLOR TIME STONES") from None
        self.time_left[player] = (seconds, stones)
        return ""

    def cmd_loadsgf(self, args):
        if not args:
            raise GtpFailure("syntax error: loadsgf FILE [MOVE_NUMBER]")
        upto = None
        if len(args) > 1:
            try:
                upto = max(int(args[1]) - 1, 0)  # "the position before move n"
            except ValueError:
                raise GtpFailure("move number is not an integer") from None
        try:
            with open(args[0], encoding="utf-8", errors="replace") as f:
                record = sgf.read(f.read())
            record.moves = record.moves[:upto] if upto is not None else record.moves
            sgf.to_state(record, self.rules)  # check it before anything changes
        except OSError:
            raise GtpFailure("cannot load file") from None
        except sgf.SgfError as e:
            raise GtpFailure(f"cannot load file: {e}") from None
        record.rules = self.rules.capitalize()
        self.record = record
        self._rebuild()
        return ""

    def cmd_printsgf(self, args):
        rec = self.record
        rec.result = self.game.result_string(self.state) if self.state.is_terminal() else ""
        text = sgf.write(rec)
        if args:
            try:
                with open(args[0], "w", encoding="utf-8") as f:
                    f.write(text)
            except OSError:
                raise GtpFailure("cannot write file") from None
            return ""
        return "\n" + text.strip()

    # ---- analysis ------------------------------------------------------------------------
    def _info_line(self, result) -> str:
        parts = []
        for order, m in enumerate(top_moves(result, 0, 10)):
            pv = " ".join(self._vertex_name(a) for a in m.pv)
            parts.append(f"info move {self._vertex_name(m.action)} visits {m.visits} "
                         f"winrate {int(round(m.winrate * 10000))} prior {int(round(m.prior * 10000))} "
                         f"order {order} pv {pv}")
        return " ".join(parts)

    def _emit(self, text: str) -> None:
        with self.lock:
            self.out.write(text)
            self.out.flush()

    @staticmethod
    def _analyze_args(args, default_player: int):
        """[COLOR] [INTERVAL in centiseconds] in either order, as Lizzie and Sabaki send them."""
        player, interval = default_player, 100
        for a in args:
            if a.lower() in ("b", "w", "black", "white"):
                player = 0 if a.lower().startswith("b") else 1
            elif a.isdigit():
                interval = int(a)
            elif a.lower() == "interval":
                continue
            else:
                raise GtpFailure(f"unexpected analyze argument {a!r}")
        return player, max(interval, 1) / 100.0

    def cmd_genmove_analyze(self, args):
        if not args:
            raise GtpFailure("syntax error: genmove_analyze COLOR [INTERVAL]")
        player, interval = self._analyze_args(args, 0)
        if self.state.is_terminal():
            raise GtpFailure("the game is over")
        last = [0.0]

        def progress(result, done):
            if time.perf_counter() - last[0] >= interval:
                last[0] = time.perf_counter()
                self._emit(self._info_line(result) + "\n")

        self._emit("=\n")
        action = self._think(player, progress)
        if action is None:
            return "play resign"
        self._apply(player, action)
        return "play " + self._vertex_name(action)

    def cmd_analyze(self, args):
        if not hasattr(self.agent, "search"):
            raise GtpFailure("this agent does not search, so it cannot analyze")
        if self.state.is_terminal():
            raise GtpFailure("the game is over")
        player, interval = self._analyze_args(args, self.state.current_player())
        state = self.state.clone()
        if state.current_player() != player:
            self.game.set_to_play(state, player)
        stop = threading.Event()

        def work():
            while not stop.is_set():
                result = self.agent.search(state, simulations=max(self.agent.config.num_simulations // 10, 50))
                if stop.wait(interval):
                    break
                self._emit(self._info_line(result) + "\n")

        thread = threading.Thread(target=work, daemon=True)
        self._emit("=\n")
        thread.start()
        self.analysis = (thread, stop)
        return None  # the response ends when the next command stops the analysis

    # ---- protocol loop -------------------------------------------------------------------
    def _stop_analysis(self) -> None:
        if self.analysis:
            thread, stop = self.analysis
            stop.set()
            thread.join()
            self.analysis = None
            self._emit("\n")

    def handle(self, line: str) -> str | None:
        """Answer one command line; None for lines the protocol ignores."""
        line = "".join(ch for ch in line.split("#", 1)[0] if ch == "\t" or ch >= " ").replace("\t", " ").strip()
        if not line:
            return None
        self._stop_analysis()
        parts = line.split()
        ident = ""
        if re.fullmatch(r"\d+", parts[0]):
            ident, parts = parts[0], parts[1:]
            if not parts:
                return f"?{ident} missing command\n\n"
        name, args = parts[0].lower(), parts[1:]
        handler = self.commands.get(name)
        if handler is None:
            return f"?{ident} unknown command\n\n"
        try:
            answer = handler(args)
        except GtpFailure as e:
            return f"?{ident} {e}\n\n"
        except Exception as e:  # keep the engine alive whatever happens
            return f"?{ident} internal error: {type(e).__name__}: {e}\n\n"
        if answer is None:
            return ""
        if name in ("genmove_analyze", "lz-genmove_analyze"):
            return f"{answer}\n\n"
        return f"={ident} {answer}".rstrip(" ") + "\n\n" if answer else f"={ident}\n\n"

    def run(self, stdin=None) -> None:
        stdin = stdin or sys.stdin
        for line in stdin:
            reply = self.handle(line)
            if reply:
                self._emit(reply)
            if not self.running:
                break
        self._stop_analysis()

