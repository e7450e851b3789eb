"""Matches between two players: alternating colours, varied openings, Elo with an interval.

Each pair of games starts from the same random opening (K random plies) with colours swapped,
so neither player profits from a lucky opening. A player that returns an illegal move (or
fails) loses that game, and the match reports it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

import mcts
from engine.play.base import Resigned
from games.base import Game, State
from games.random_play import random_opening


@dataclass
class MatchResult:
    game: str
    player_a: str
    player_b: str
    games: int = 0
    wins: int = 0  # for player A
    draws: int = 0
    losses: int = 0
    illegal_moves: dict = field(default_factory=lambda: {"a": 0, "b": 0})
    resignations: dict = field(default_factory=lambda: {"a": 0, "b": 0})
    seconds_per_move: dict = field(default_factory=lambda: {"a": 0.0, "b": 0.0})
    scores: list = field(default_factory=list, repr=False)  # A's score in each game

    @property
    def score(self) -> float:
        return (self.wins + 0.5 * self.draws) / max(self.games, 1)

    def elo(self) -> tuple[float, float, float]:
        """Elo difference of A over B and its 95% interval (normal approximation on the mean
        score; infinite at a score of 0 or 1)."""
        s = np.asarray(self.scores, float)
        n = len(s)
        if n == 0:
            return 0.0, -math.inf, math.inf
        se = s.std(ddof=1) / math.sqrt(n) if n > 1 else 0.5
        return elo_of(s.mean()), elo_of(s.mean() - 1.96 * se), elo_of(s.mean() + 1.96 * se)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("scores")
        e, lo, hi = self.elo()
        d.update(score=self.score, elo=_finite(e), elo_low=_finite(lo), elo_high=_finite(hi))
        return d

    def summary(self) -> str:
        e, lo, hi = self.elo()
        text = (f"{self.player_a} vs {self.player_b} on {self.game}: {self.games} games, "
                f"+{self.wins} ={self.draws} -{self.losses}, score {self.score:.3f}, "
                f"Elo {e:+.0f} (95% {lo:+.0f} to {hi:+.0f})")
        if any(self.illegal_moves.values()):
            text += f"; illegal moves: A {self.illegal_moves['a']}, B {self.illegal_moves['b']}"
        return text


def elo_of(score: float) -> float:
    if score <= 0:
        return -math.inf
    if score >= 1:
        return math.inf
    return -400.0 * math.log10(1.0 / score - 1.0)


def _finite(x: float):
    return None if math.isinf(x) else round(x, 1)


RESIGNED = 10  # play_game's second result for a resignation by player p is RESIGNED + p


def _move(player, state: State, mover: int) -> int:
    """Let `player` make its move in `state`: -1 when it moved, else the outcome code of
    play_game (mover for an illegal move or a failure, RESIGNED + mover for a resignation)."""
    try:
        state.apply_action(player.select_action(state.clone()))
    except Resigned:
        return RESIGNED + mover
    except (ValueError, RuntimeError):
        return mover
    return -1


def play_game(game: Game, players: list, opening: list[int], clock: list[float], moves: list[int]):
    """One game; players[p] moves for player p. Returns (final state, outcome code): -1 when the
    game ended by the rules, p when player p made an illegal move or failed, RESIGNED + p when
    player p resigned."""
    state = game.new_initial_state()
    for a in opening:
        state.apply_action(a)
    for p in players:
        p.new_game()
    while not state.is_terminal():
        mover = state.current_player()
        t0 = time.perf_counter()
        outcome = _move(players[mover], state, mover)
        clock[mover] += time.perf_counter() - t0
        moves[mover] += 1
        if outcome >= 0:
            return state, outcome
    return state, -1


def _ending(outcome: int) -> str:
    """How a game ended, for its record: by the rules (""), "resigned" or "illegal"."""
    return "" if outcome < 0 else ("resigned" if outcome >= RESIGNED else "illegal")


def _score(result: MatchResult, state: State, outcome: int, a_side: int) -> float:
    """Player A's score in a finished game, counted into `result`."""
    if outcome >= RESIGNED:
        score = 0.0 if outcome - RESIGNED == a_side else 1.0
        result.resignations["a" if score == 0.0 else "b"] += 1
    elif outcome >= 0:
        who = "a" if outcome == a_side else "b"
        result.illegal_moves[who] += 1
        score = 0.0 if who == "a" else 1.0
    else:
        score = (float(state.returns()[a_side]) + 1.0) / 2.0
    result.games += 1
    result.scores.append(score)
    result.wins += score == 1.0
    result.draws += score == 0.5
    result.losses += score == 0.0
    return score


def play_match(game: Game, player_a, player_b, num_games: int, opening_plies: int = 2, seed: int = 0,
               progress=None, on_game=None) -> MatchResult:
    """Play the match. `on_game(index, final state, names by player, result text)` is called
    after each game (the CLI writes Go games to SGF with it)."""
    rng = np.random.default_rng(seed)
    result = MatchResult(game.name, player_a.name, player_b.name)
    clock = {"a": 0.0, "b": 0.0}
    counts = {"a": 0, "b": 0}
    opening: list[int] = []
    for i in range(num_games):
        if i % 2 == 0:
            opening = random_opening(game, opening_plies, rng)
        a_side = i % 2  # A plays first in even games, second in odd ones
        players = [player_a, player_b] if a_side == 0 else [player_b, player_a]
        side_clock, side_moves = [0.0, 0.0], [0, 0]
        state, faulty = play_game(game, players, opening, side_clock, side_moves)
        for side, who in ((a_side, "a"), (1 - a_side, "b")):
            clock[who] += side_clock[side]
            counts[who] += side_moves[side]
        _score(result, state, faulty, a_side)
        if on_game:
            names = [player_a.name, player_b.name] if a_side == 0 else [player_b.name, player_a.name]
            on_game(i, state, names, _ending(faulty))
        if progress:
            progress(result)
    result.seconds_per_move = {k: clock[k] / max(counts[k], 1) for k in clock}
    return result


def play_match_lockstep(game: Game, evaluator, search_config, name: str, make_opponent, num_games: int,
                        opening_plies: int = 2, seed: int = 0, progress=None, on_game=None) -> MatchResult:
    """play_match for a searching network agent, with every game played at once: each step,
    one batched `mcts.search` (as in self-play) moves the agent in all games where it is to
    move, then each game's own opponent (`make_opponent(index)`, a fresh player per game) moves
    in the others. The agent's cost for the whole match is then about that of one game. Same
    openings, colours and scoring as play_match; the agent searches each move from scratch
    (no tree kept between moves). `progress(result)` is called as games end, `on_game` (as in
    play_match) for every game at the end, in order."""
    rng = np.random.default_rng(seed)
    search_rng = np.random.default_rng(seed + 1)
    openings = []
    for i in range(num_games):
        openings.append(random_opening(game, opening_plies, rng) if i % 2 == 0 else openings[-1])
    opponents = [make_opponent(i) for i in range(num_games)]
    states = []
    for opening, opponent in zip(openings, opponents):
        state = game.new_initial_state()
        for a in opening:
            state.apply_action(a)
        opponent.new_game()
        states.append(state)
    a_sides = [i % 2 for i in range(num_games)]  # the agent plays first in even games
    outcomes = [-1] * num_games
    clock, counts = {"a": 0.0, "b": 0.0}, {"a": 0, "b": 0}
    live = [i for i in range(num_games) if not states[i].is_terminal()]
    while live:
        agent_turn = [i for i in live if states[i].current_player() == a_sides[i]]
        searched = set(agent_turn)
        if agent_turn:
            t0 = time.perf_counter()
            found = mcts.search(game, [states[i] for i in agent_turn], evaluator, search_config, search_rng)
            for j, i in enumerate(agent_turn):
                states[i].apply_action(int(found.action[j]))
            clock["a"] += time.perf_counter() - t0
            counts["a"] += len(agent_turn)
        for i in live:
            state = states[i]
            if i in searched or state.is_terminal():
                continue
            t0 = time.perf_counter()
            outcomes[i] = _move(opponents[i], state, state.current_player())
            clock["b"] += time.perf_counter() - t0
            counts["b"] += 1
        before = len(live)
        live = [i for i in live if outcomes[i] < 0 and not states[i].is_terminal()]
        if progress and len(live) < before:  # some game ended
            running = MatchResult(game.name, name, "")
            for i in range(num_games):
                if outcomes[i] >= 0 or states[i].is_terminal():
                    _score(running, states[i], outcomes[i], a_sides[i])
            progress(running)
    result = MatchResult(game.name, name, opponents[0].name if opponents else "")
    for i in range(num_games):
        _score(result, states[i], outcomes[i], a_sides[i])
        if on_game:
            names = [name, opponents[i].name][:: 1 if a_sides[i] == 0 else -1]
            on_game(i, states[i], names, _ending(outcomes[i]))
    result.seconds_per_move = {k: clock[k] / max(counts[k], 1) for k in clock}
    return result
