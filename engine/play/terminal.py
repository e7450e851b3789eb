"""Play a game in a terminal: the board with coordinates and the last move marked, moves in
the game's notation, `undo`, `hint`, `resign`, `help` and `quit`. Bad input re-prompts; it
never ends the program."""

from __future__ import annotations

import sys

from engine.play import sgf
from engine.play.analysis import top_moves
from engine.play.base import HELP, HINT, QUIT, RESIGN, UNDO, Resigned, example_move, read_move
from games.base import Game, State


def describe_moves(game: Game, result, k: int = 5) -> str:
    lines = []
    for m in top_moves(result, 0, k):
        pv = " ".join(game.action_to_string(a) for a in m.pv[:6])
        lines.append(f"  {game.action_to_string(m.action):>5}  {m.share:5.1%} of visits  win {m.winrate:5.1%}  "
                     f"line: {pv}")
    return "\n".join(lines) if lines else "  (no moves searched)"


class Session:
    """One game of a person against an agent, from `start` (the initial position by default)."""

    def __init__(self, game: Game, agent, human_player: int, ask=input, say=print, hint_player=None,
                 start: State | None = None, show_thinking: bool = True):
        self.game, self.agent, self.human = game, agent, human_player
        self.ask, self.say = ask, say
        self.hint_player = hint_player
        self.start = (start or game.new_initial_state()).clone()
        self.state = self.start.clone()
        self.show_thinking = show_thinking
        self.resigned: int | None = None

    def _agent_move(self) -> int | None:
        def thinking(result, done):
            best = top_moves(result, 0, 1)
            if best and self.show_thinking:
                m = best[0]
                print(f"\r  thinking: {done} simulations, best {self.game.action_to_string(m.action)} "
                      f"(win {m.winrate:.0%})   ", end="", file=sys.stderr, flush=True)

        try:
            if hasattr(self.agent, "search"):
                action = self.agent.select_action(self.state.clone(), progress=thinking)
                if self.show_thinking:
                    print(file=sys.stderr)
            else:
                action = self.agent.select_action(self.state.clone())
        except Resigned:
            return None
        return int(action)

    def _hint(self) -> None:
        helper = self.agent if hasattr(self.agent, "search") else self.hint_player
        if helper is None:
            self.say("This agent gives no hints.")
            return
        result = helper.search(self.state.clone())
        self.say(f"{helper.name} suggests:\n" + describe_moves(self.game, result))

    def _undo(self) -> None:
        moves = self.state.history()[len(self.start.history()):]
        for k in range(len(moves) - 1, -1, -1):
            s = self.start.clone()
            for a in moves[:k]:
                s.apply_action(a)
            if s.current_player() == self.human:
                self.state = s
                return
        self.say("Nothing to undo.")

    def run(self) -> State | None:
        side = "first" if self.human == 0 else "second"
        self.say(f"You play {side} against {self.agent.name}. " + HELP.format(example=example_move(self.game, self.state)))
        while not self.state.is_terminal():
            self.say("\n" + str(self.state))
            if self.state.current_player() == self.human:
                move = read_move(self.state, self.ask, self.say)
                if move is None or move == QUIT:
                    self.say("Game abandoned.")
                    return None
                if move == UNDO:
                    self._undo()
                elif move == HINT:
                    self._hint()
                elif move == RESIGN:
                    self.resigned = self.human
                    break
                else:
                    self.state.apply_action(move)
            else:
                action = self._agent_move()
                if action is None:
                    self.resigned = 1 - self.human
                    self.say(f"{self.agent.name} resigns.")
                    break
                self.say(f"{self.agent.name} plays {self.game.action_to_string(action)}")
                self.state.apply_action(action)
        self.say("\n" + str(self.state))
        self.say(self.outcome())
        return self.state

    def outcome(self) -> str:
        if self.resigned is not None:
            return "You resigned: you lose." if self.resigned == self.human else "You win by resignation!"
        text = ""
        if hasattr(self.game, "area_score"):
            black, white = self.game.areas(self.state)
            text = (f"Area: Black {black}, White {white}, komi {self.game.komi:g}: "
                    f"{self.game.result_string(self.state)}. ")
        result = self.state.returns()[self.human]
        return text + ("You win!" if result > 0 else ("You lose." if result < 0 else "Draw."))

    def record(self):
        """The game as an SGF record (Go only)."""
        game = self.game
        black, white = [], []
        board = game.board(self.start)
        for p in range(game.size ** 2):
            r, c = divmod(p, game.size)
            if board[r, c] == 1:
                black.append(p)
            elif board[r, c] == 2:
                white.append(p)
        moves, s = [], self.start.clone()
        for a in self.state.history()[len(self.start.history()):]:
            moves.append((s.current_player(), a))
            s.apply_action(a)
        names = ["you", self.agent.name] if self.human == 0 else [self.agent.name, "you"]
        if self.resigned is not None:
            result = ("W" if self.resigned == 0 else "B") + "+R"
        else:
            result = game.result_string(self.state) if self.state.is_terminal() else ""
        return sgf.GoRecord(game.size, game.komi, game.rules.capitalize(), names[0], names[1], result, black, white,
                            self.start.current_player() if black or white else None, moves)

