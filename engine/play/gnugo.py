"""GNU Go as a player, over GTP: `gnugo[:LEVEL]`.

GNU Go scores by Japanese rules unless started with --chinese-rules; with that flag, and with
`kgs-genmove_cleanup` (which captures dead stones before it passes), its play and its
`final_score` agree with area scoring, so both are always used.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from engine.play.base import Player, PlayerSpecError, Resigned
from games.base import Game, State
from games.go import Go

INSTALL_HINT = "GNU Go is not installed; install it with `apt-get install gnugo` (it goes to /usr/games)."


class GtpError(RuntimeError):
    """A GTP peer answered '?' or stopped answering."""


def find_gnugo() -> str | None:
    found = shutil.which("gnugo")
    if found:
        return found
    return "/usr/games/gnugo" if os.access("/usr/games/gnugo", os.X_OK) else None


class GtpProcess:
    """A GTP engine in a subprocess: `ask(command) -> response text` (without the '= ')."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)

    def ask(self, command: str) -> str:
        if self.proc.poll() is not None:
            raise GtpError(f"{self.argv[0]} has stopped.")
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise GtpError(f"{self.argv[0]} stopped answering {command!r}.")
            if line.strip() == "" and lines:
                break
            if line.strip() == "" and not lines:
                continue
            lines.append(line.rstrip("\n"))
        text = "\n".join(lines)
        if text.startswith("?"):
            raise GtpError(f"{self.argv[0]} refused {command!r}: {text[1:].strip()}")
        if not text.startswith("="):
            raise GtpError(f"{self.argv[0]} gave a malformed answer to {command!r}: {text!r}")
        return text[1:].strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class GnuGoPlayer(Player):
    def __init__(self, game: Game, level: int = 10):
        if not isinstance(game, Go):
            raise PlayerSpecError(f"gnugo plays only Go, not {game.name}.")
        if not 0 <= level <= 10:
            raise PlayerSpecError(f"the GNU Go level must be between 0 and 10, not {level}.")
        binary = find_gnugo()
        if binary is None:
            raise PlayerSpecError(INSTALL_HINT)
        self.game = game
        self.level = level
        self.name = f"gnugo:{level}"
        self.gtp = GtpProcess([binary, "--mode", "gtp", "--level", str(level), "--chinese-rules"])
        self.gtp.ask(f"boardsize {game.size}")
        self.gtp.ask(f"komi {game.komi:g}")
        self.sent: list[int] | None = None

    def new_game(self) -> None:
        self.sent = None

    def _sync(self, state: State) -> None:
        """Bring GNU Go's board to `state` by sending only the moves it has not seen."""
        moves = state.history()
        if self.sent is None or moves[: len(self.sent)] != self.sent:
            self.gtp.ask("clear_board")
            self.sent = []
        for i in range(len(self.sent), len(moves)):
            colour = "black" if i % 2 == 0 else "white"
            self.gtp.ask(f"play {colour} {self.game.action_to_string(moves[i])}")
            self.sent.append(moves[i])

    def select_action(self, state: State) -> int:
        if not state.history() and self.game.board(state).any():
            raise ValueError("gnugo can only follow games that start from the empty board.")
        self._sync(state)
        colour = "black" if state.current_player() == 0 else "white"
        reply = self.gtp.ask(f"kgs-genmove_cleanup {colour}").lower()
        if reply == "resign":
            raise Resigned(self.name)
        action = self.game.string_to_action(reply)
        self.sent.append(action)
        return action
