"""The players behind the spec strings (engine/play/specs.py builds them): each answers
`select_action(state) -> int`."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pyspiel

import mcts
from engine.play.base import Player, PlayerSpecError, read_move
from games.base import Game, State
from games.native import NativeGame


class RandomPlayer(Player):
    name = "random"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def select_action(self, state: State) -> int:
        return int(self.rng.choice(state.legal_actions()))


class HumanPlayer(Player):
    """Reads moves from the terminal; see engine.play.terminal for the commands it accepts."""

    name = "human"

    def __init__(self, game: Game, ask=input, say=print):
        self.game, self.ask, self.say = game, ask, say

    def select_action(self, state: State) -> int:
        move = read_move(state, self.ask, self.say, allow_commands=False)
        if move is None:
            raise EOFError("no more input")
        return move


class MinimaxPlayer(Player):
    """Negamax with alpha-beta pruning and a transposition table. Values are from the mover's
    view: +1 win, -1 loss, 0 draw (or unknown at the depth limit)."""

    EXACT, LOWER, UPPER = 0, 1, 2

    def __init__(self, game: Game, depth: int | None = None):
        self.game = game
        self.depth = depth
        self.name = "minimax" if depth is None else f"minimax:{depth}"
        self.table: dict = {}

    def _key(self, state: State, depth: int):
        key = state.array.tobytes() if isinstance(self.game, NativeGame) else tuple(state.history())
        return key if self.depth is None else (key, depth)

    def _value_for(self, child: State, mover: int, depth: int, alpha: float, beta: float) -> float:
        """Value of `child` for `mover` (who just moved into it) within (alpha, beta)."""
        if child.is_terminal():
            return float(child.returns()[mover])
        if depth <= 0:
            return 0.0
        if child.current_player() == mover:
            return self._negamax(child, depth, alpha, beta)
        return -self._negamax(child, depth, -beta, -alpha)

    def _negamax(self, state: State, depth: int, alpha: float, beta: float) -> float:
        """Value of a live state for its player to move."""
        key = self._key(state, depth)
        entry = self.table.get(key)
        if entry is not None:
            flag, v = entry
            if flag == self.EXACT or (flag == self.LOWER and v >= beta) or (flag == self.UPPER and v <= alpha):
                return v
        a0 = alpha
        best = -2.0
        mover = state.current_player()
        for a in state.legal_actions():
            v = self._value_for(state.child(int(a)), mover, depth - 1, alpha, beta)
            best = max(best, v)
            alpha = max(alpha, v)
            if alpha >= beta:
                break
        flag = self.UPPER if best <= a0 else (self.LOWER if best >= beta else self.EXACT)
        self.table[key] = (flag, best)
        return best

    def action_values(self, state: State) -> dict[int, float]:
        """Each legal action's exact (or depth-limited) value for the player to move."""
        depth = 10**9 if self.depth is None else self.depth
        mover = state.current_player()
        return {int(a): self._value_for(state.child(int(a)), mover, depth - 1, -1.0, 1.0)
                for a in state.legal_actions()}

    def select_action(self, state: State) -> int:
        values = self.action_values(state)
        return max(values, key=lambda a: values[a])


class MCTSPlayer(Player):
    """Our search with a rollout evaluator; keeps its tree between moves of one game."""

    def __init__(self, game: Game, config, rollouts: int = 1, seed: int | None = None, name: str = "mcts",
                 evaluator=None):
        self.game = game
        self.config = config
        self.evaluator = evaluator or mcts.RolloutEvaluator(game, rollouts, seed or 0)
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.tree = None
        self.last_result = None

    def new_game(self) -> None:
        self.tree = None

    def _follow(self, state: State) -> None:
        """Advance the kept tree along the moves played since our last search."""
        if self.tree is None:
            return
        seen = self.tree.histories[0]
        now = state.history()
        if seen is None or now[: len(seen)] != seen:
            self.tree = None  # a new game, or a position we did not expect
            return
        for a in now[len(seen):]:
            self.tree.advance(0, a)

    def search(self, state: State, progress=None, seconds: float | None = None, simulations: int | None = None):
        """Search `state` (continuing from the kept tree). With `progress` or `seconds` the
        budget runs in chunks, sized from the measured speed so that none overshoots the
        time left; progress(result, simulations done) is called after each chunk."""
        self._follow(state)
        total = simulations or self.config.num_simulations
        chunked = (progress is not None or seconds is not None) and self.config.algorithm != "gumbel"
        chunk = min(total, max(4 * self.config.leaves_per_wave, 64)) if chunked else total
        start, done = time.perf_counter(), 0
        while done < total:
            n = min(chunk, total - done)
            config = dataclasses.replace(self.config, num_simulations=n)
            self.last_result = mcts.search(self.game, [state], self.evaluator, config, self.rng, self.tree)
            self.tree = self.last_result.tree
            done += n
            elapsed = time.perf_counter() - start
            if progress:
                progress(self.last_result, done)
            if self.tree.tree.solved[0, 0] or (seconds is not None and elapsed >= seconds):
                break
            rate = done / max(elapsed, 1e-6)
            slice_ = max(elapsed, 0.05) if seconds is None else min(seconds - elapsed, seconds / 10)
            chunk = max(self.config.leaves_per_wave, int(rate * slice_))
        return self.last_result

    def select_action(self, state: State, progress=None, seconds: float | None = None) -> int:
        action = int(self.search(state, progress, seconds).action[0])
        self.tree.advance(0, action)
        return action


class OpenSpielMCTSPlayer(Player):
    """OpenSpiel's C++ MCTSBot (UCT, c = 2, one random rollout per leaf, solver on): the
    external reference our search is measured against."""

    def __init__(self, game: Game, simulations: int, seed: int | None = None):
        if game.openspiel is None:
            raise PlayerSpecError(f"openspiel-mcts cannot play {game.name}: it has no OpenSpiel counterpart.")
        self.game = game
        self.spiel_game = pyspiel.load_game(game.openspiel)
        evaluator = pyspiel.RandomRolloutEvaluator(1, seed or 0)
        self.bot = pyspiel.MCTSBot(self.spiel_game, evaluator, 2.0, simulations, 1000, True, seed or 0, False)
        self.name = f"openspiel-mcts:{simulations}"

    def select_action(self, state: State) -> int:
        s = self.spiel_game.new_initial_state()
        for a in state.history():
            s.apply_action(a)
        return int(self.bot.step(s))
