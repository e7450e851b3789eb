"""Self-play: many games in lockstep, one batched search per move for all of them.

Each move is a full search (recorded as a policy target) with probability
`full_search_share`, else a cheap one that is played but not recorded: KataGo's playout cap
randomization, which buys many more games (value targets) for the same compute. The first
`temperature_moves` moves of a game are sampled from the visit counts, later ones are the most
visited move; full searches add Dirichlet noise at the root.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import mcts
from training.config import TrainConfig


@dataclass
class SelfPlayBatch:
    observations: np.ndarray  # (N, C, H, W) float32
    policies: np.ndarray  # (N, A) float32 search policy targets
    values: np.ndarray  # (N,) float32 final result for the player to move
    games: int
    moves: int  # all moves played, recorded or not
    search_seconds: float


def play_games(game, evaluator, config: TrainConfig, rng: np.random.Generator) -> SelfPlayBatch:
    import time

    n = config.games_per_iteration
    states = [game.new_initial_state() for _ in range(n)]
    records: list[list[tuple[np.ndarray, np.ndarray, int]]] = [[] for _ in range(n)]
    full = mcts.SearchConfig(num_simulations=config.simulations, algorithm=config.algorithm,
                             leaves_per_wave=config.leaves_per_wave, dirichlet_fraction=config.dirichlet_fraction)
    fast = mcts.SearchConfig(num_simulations=config.fast_simulations, algorithm=config.algorithm,
                             leaves_per_wave=config.leaves_per_wave)
    moves = 0
    search_seconds = 0.0
    live = list(range(n))
    while live:
        is_full = rng.random() < config.full_search_share
        t0 = time.perf_counter()
        result = mcts.search(game, [states[i] for i in live], evaluator, full if is_full else fast, rng)
        search_seconds += time.perf_counter() - t0
        for j, i in enumerate(live):
            s = states[i]
            if is_full:
                records[i].append((s.observation(), result.policy_target[j], s.current_player()))
            visits = result.visit_counts[j].astype(np.float64)
            if len(s.history()) < config.temperature_moves and visits.sum() > 0:
                action = int(rng.choice(len(visits), p=visits / visits.sum()))
            else:
                action = int(result.action[j])
            s.apply_action(action)
            moves += 1
        live = [i for i in live if not states[i].is_terminal()]
    obs, pol, val = [], [], []
    for s, rec in zip(states, records):
        returns = s.returns()
        for o, p, player in rec:
            obs.append(o)
            pol.append(p)
            val.append(returns[player])
    A = game.num_actions
    return SelfPlayBatch(
        np.stack(obs).astype(np.float32) if obs else np.zeros((0, *game.observation_shape), np.float32),
        np.stack(pol).astype(np.float32) if pol else np.zeros((0, A), np.float32),
        np.asarray(val, np.float32), n, moves, search_seconds)
