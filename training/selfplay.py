"""Self-play: many games in lockstep, one batched search per move for all of them.

Each move is a full search (recorded as a policy target) with probability
`full_search_share`, else a cheap one that is played but not recorded: KataGo's playout cap
randomization, which buys many more games (value targets) for the same compute. The first
`temperature_moves` moves of a game are sampled from the visit counts, later ones are the most
visited move; full searches add Dirichlet noise at the root.

With `random_opening_share`, that share of games starts with 1..`random_opening_moves` uniformly
random moves that are neither searched nor recorded: the games then reach positions greedy
self-play never visits, while every recorded position is still followed by searched play, so
its value target is not spoiled by a random move after it.

With `fork_share`, each move may also fork its game (at most `games_per_iteration` forks per
iteration): a copy plays one uniformly random move and continues as a game of its own, recorded
from the position after that move; the original goes on unchanged. Mid-game mistakes then get
punished and learned from (KataGo's side branches), again without spoiling any value target.

With `root_value_share` = m, a recorded position's value target is (1 - m) * the game's result
+ m * the full search's root value: less noisy than one game's result (a won game may hold moves
that threw the win away, undone by a later blunder), though biased by the network that searched.

With `tree_reuse`, each game's next search continues from the subtree of the move it played
(AlphaZero's reuse), so a search of N simulations adds N to the visits already there; root noise
is drawn afresh on every search.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

import mcts
from engine.arena import random_opening
from training.config import TrainConfig


@dataclass
class SelfPlayBatch:
    observations: np.ndarray  # (N, C, H, W) float32
    policies: np.ndarray  # (N, A) float32 search policy targets
    values: np.ndarray  # (N,) float32 value targets for the player to move (final result, maybe mixed with the root value)
    games: int
    moves: int  # all moves played, recorded or not
    search_seconds: float
    resigned: int = 0  # games ended by resignation
    false_resignations: int = 0  # in games played out: a side that would have resigned did not lose
    would_resign: int = 0  # sides that would have resigned in games played out
    owners: np.ndarray | None = None  # (N, H, W) final owner of each point for the mover (Go); NaN if resigned


def opening_state(game, config: TrainConfig, rng: np.random.Generator):
    """The start of one self-play game: the initial state, or after a random opening."""
    state = game.new_initial_state()
    if config.random_opening_moves > 0 and rng.random() < config.random_opening_share:
        for action in random_opening(game, int(rng.integers(1, config.random_opening_moves + 1)), rng):
            state.apply_action(action)
    return state


def play_games(game, evaluator, config: TrainConfig, rng: np.random.Generator) -> SelfPlayBatch:
    import time

    n = config.games_per_iteration
    states = [opening_state(game, config, rng) for _ in range(n)]
    records: list[list[tuple[np.ndarray, np.ndarray, int, float]]] = [[] for _ in range(n)]
    full = mcts.SearchConfig(num_simulations=config.simulations, algorithm=config.algorithm,
                             leaves_per_wave=config.leaves_per_wave, dirichlet_fraction=config.dirichlet_fraction,
                             win_check=config.win_check)
    fast = dataclasses.replace(full, num_simulations=config.fast_simulations, dirichlet_fraction=0.0)
    moves = 0
    search_seconds = 0.0
    live = list(range(n))  # random openings never end a game
    resigning = config.resign_threshold > -1.0
    play_out = list(rng.random(n) < config.resign_playout_share)  # these games never resign
    winner_by_resignation: dict[int, int] = {}
    would_resign: list[set] = [set() for _ in range(n)]
    forks = 0
    tree, rows = None, {}  # with tree_reuse: the last search's trees, and each game's row in them
    while live:
        is_full = rng.random() < config.full_search_share
        t0 = time.perf_counter()
        if tree is not None:
            order = [rows.get(i, -1) for i in live]
            if order != list(range(tree.tree.batch)):
                tree = tree.select(order)
        result = mcts.search(game, [states[i] for i in live], evaluator, full if is_full else fast, rng, tree)
        if config.tree_reuse:
            tree, rows = result.tree, {i: j for j, i in enumerate(live)}
        search_seconds += time.perf_counter() - t0
        born: list[int] = []  # forks made this step join the next search
        for j, i in enumerate(live):
            s = states[i]
            if resigning and result.root_value[j] < config.resign_threshold:
                if play_out[i]:
                    would_resign[i].add(s.current_player())
                else:
                    winner_by_resignation[i] = 1 - s.current_player()
                    continue
            if is_full:
                records[i].append((s.observation(), result.policy_target[j], s.current_player(), float(result.root_value[j])))
            # PUCT's policy target is the visit share, except that a proven win takes all of it
            visits = (result.policy_target[j] if config.algorithm == "puct" else result.visit_counts[j]).astype(np.float64)
            if len(s.history()) < config.temperature_moves and visits.sum() > 0:
                action = int(rng.choice(len(visits), p=visits / visits.sum()))
            else:
                action = int(result.action[j])
            s.apply_action(action)
            if tree is not None:
                tree.advance(j, action)
            moves += 1
            if forks < n and config.fork_share > 0 and not s.is_terminal() and rng.random() < config.fork_share:
                fork = s.clone()
                fork.apply_action(int(rng.choice(fork.legal_actions())))
                if not fork.is_terminal():
                    states.append(fork)
                    records.append([])
                    would_resign.append(set())
                    play_out.append(False)
                    born.append(len(states) - 1)
                    forks += 1
        live = [i for i in live + born if not states[i].is_terminal() and i not in winner_by_resignation]
    obs, pol, val, own = [], [], [], []
    false_resignations = 0
    ownership = getattr(game, "ownership", None)
    for i, (s, rec) in enumerate(zip(states, records)):
        if i in winner_by_resignation:
            returns = np.array([1.0, -1.0] if winner_by_resignation[i] == 0 else [-1.0, 1.0], np.float32)
            owner = np.full(game.observation_shape[1:], np.nan, np.float32) if ownership else None
        else:
            returns = s.returns()
            false_resignations += sum(1 for p in would_resign[i] if returns[p] >= 0)
            owner = ownership(s) if ownership else None  # player 0's view
        m = config.root_value_share
        for o, p, player, q in rec:
            obs.append(o)
            pol.append(p)
            val.append((1.0 - m) * returns[player] + m * q)
            if ownership:
                own.append(owner if player == 0 else -owner)
    A = game.num_actions
    return SelfPlayBatch(
        np.stack(obs).astype(np.float32) if obs else np.zeros((0, *game.observation_shape), np.float32),
        np.stack(pol).astype(np.float32) if pol else np.zeros((0, A), np.float32),
        np.asarray(val, np.float32), len(states), moves, search_seconds, len(winner_by_resignation), false_resignations,
        sum(len(w) for w in would_resign),
        (np.stack(own) if own else np.zeros((0, *game.observation_shape[1:]), np.float32)) if ownership else None)
