"""Play a game in a terminal: the board with coordinates, moves in the game's notation,
`undo`, `help` and `quit`. Bad input re-prompts; it never ends the program."""

from __future__ import annotations

from typing import Callable

from games.base import Game, IllegalMoveError, State

HELP = "Type a move ({example}), 'undo' to take back your last move, 'help', or 'quit'."
UNDO, QUIT = "undo", "quit"


def _example(game: Game, state: State) -> str:
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
        if low in ("quit", "exit", "q"):
            return QUIT if allow_commands else None
        if low in ("help", "?", ""):
            say(HELP.format(example=_example(game, state)))
            continue
        if low == "undo" and allow_commands:
            return UNDO
        try:
            action = game.string_to_action(text)
        except (ValueError, IllegalMoveError) as e:
            say(f"{e} Type 'help' for the commands.")
            continue
        if not state.legal_mask()[action]:
            say(f"{game.action_to_string(action)} is not legal here; try another move.")
            continue
        return action


def play(game: Game, agent, human_player: int, ask=input, say=print) -> State | None:
    """One game of a person against `agent` (a Player). Returns the final state, or None on quit."""
    state = game.new_initial_state()
    say(f"You play {'first' if human_player == 0 else 'second'} against {agent.name}. " + HELP.format(
        example=_example(game, state)))
    while not state.is_terminal():
        say("\n" + str(state))
        if state.current_player() == human_player:
            move = read_move(state, ask, say)
            if move is None or move == QUIT:
                say("Game abandoned.")
                return None
            if move == UNDO:
                previous = _previous_turn(game, state.history(), human_player)
                if previous is None:
                    say("Nothing to undo.")
                else:
                    state = previous
                continue
            state.apply_action(move)
        else:
            action = agent.select_action(state.clone())
            say(f"{agent.name} plays {game.action_to_string(action)}")
            state.apply_action(action)
    say("\n" + str(state))
    result = state.returns()[human_player]
    say("You win!" if result > 0 else ("You lose." if result < 0 else "Draw."))
    return state


def _previous_turn(game: Game, history: list[int], player: int) -> State | None:
    """The latest earlier position where `player` was to move (replayed from the start)."""
    for k in range(len(history) - 1, -1, -1):
        state = game.new_initial_state()
        for a in history[:k]:
            state.apply_action(a)
        if state.current_player() == player:
            return state
    return None
