"""What every player and every interface to players shares: the `Player` interface, the two
exceptions players raise, and reading a person's move (the terminal session and the human
player both ask through `read_move`)."""

from __future__ import annotations

from typing import Callable

from games.base import Game, IllegalMoveError, State


class PlayerSpecError(ValueError):
    """A player spec that does not name a player, or names one that cannot play this game."""


class Resigned(Exception):
    """Raised by select_action when a player resigns instead of moving."""


class Player:
    name = "player"

    def select_action(self, state: State) -> int:
        raise NotImplementedError

    def new_game(self) -> None:
        """Forget anything carried over from an earlier game."""


HELP = ("Type a move ({example}), 'undo' to take back your last move, 'hint' for the agent's view, "
        "'resign', 'help', or 'quit'.")
UNDO, QUIT, HINT, RESIGN = "undo", "quit", "hint", "resign"
COMMANDS = {"undo": UNDO, "hint": HINT, "resign": RESIGN, "quit": QUIT, "exit": QUIT, "q": QUIT}


def example_move(game: Game, state: State) -> str:
    legal = state.legal_actions()
    return game.action_to_string(int(legal[len(legal) // 2])) if len(legal) else "-"


def read_move(state: State, ask: Callable[[str], str], say: Callable[[str], None], allow_commands: bool = True):
    """Ask until the text is a legal move (an action id) or, when allowed, a command.

    Returns None at end of input.
    """
    game = state.game
    while True:
        try:
            text = ask("your move> ").strip()
        except EOFError:
            return None
        low = text.lower()
        if low in ("help", "?", ""):
            say(HELP.format(example=example_move(game, state)))
            continue
        if low in COMMANDS:
            if allow_commands or COMMANDS[low] == QUIT:
                return COMMANDS[low] if allow_commands else None
            say("That command is not available here.")
            continue
        try:
            action = game.string_to_action(text)
        except (ValueError, IllegalMoveError) as e:
            say(f"{e} Type 'help' for the commands.")
            continue
        if not state.legal_mask()[action]:
            say(f"{game.action_to_string(action)} is not legal here; try another move.")
            continue
        return action
