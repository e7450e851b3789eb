"""Self-play speed: positions per second and the share of time in network inference, for
batched lockstep self-play as training plays it (in as many self-play threads) against an
alpha-zero-general-style baseline built from our own code (one game at a time, one leaf per
wave, so every network call sees one position).

    move37 bench selfplay [--seconds S] [--games connect4,go9] [--precision auto|fp32|bf16|int8]

Both sides use the same evaluator settings; at batch 1 every precision but bf16 runs fp32.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import games
import mcts
from engine.nets.inference import NetworkEvaluator, check_precision, resolve_device
from engine.nets.network import NetworkConfig, PolicyValueNet
from games.random_play import random_game_observations
from training.config import TrainConfig
from training.selfplay import ThreadedSelfPlay, selfplay_threads

NETWORK = NetworkConfig(blocks=4, channels=32)
SIMULATIONS = 64
GAMES_IN_LOCKSTEP = 128
LEAVES_PER_WAVE = 2
GAMES = ("connect4", "go9", "tictactoe", "othello", "gomoku")


def _evaluator(game, device: str, precision: str = "auto") -> NetworkEvaluator:
    """A fresh evaluator, warmed up: the search kernels are compiled (or loaded from numba's
    cache) and the network has run once, at batch 1 and at a full wave, before any clock
    starts. An int8 one calibrates on positions from random games."""
    torch.manual_seed(0)
    net = PolicyValueNet(game.observation_shape, game.num_actions, NETWORK)
    positions = random_game_observations(game, GAMES_IN_LOCKSTEP * LEAVES_PER_WAVE)
    ev = NetworkEvaluator(net, device, cache_size=0, precision=precision,  # no cache: every position is a forward pass
                          calibration=positions if precision == "int8" else None)
    config = mcts.SearchConfig(num_simulations=8, leaves_per_wave=LEAVES_PER_WAVE, win_check=TrainConfig().search.win_check)
    mcts.search(game, [game.new_initial_state() for _ in range(2)], ev, config, np.random.default_rng(0))
    ev._forward(positions)
    ev.seconds, ev.positions, ev.calls = 0.0, 0, 0
    return ev


def batched(game, seconds: float, device: str, games_in_lockstep: int = GAMES_IN_LOCKSTEP,
            refill: bool = True, precision: str = "auto", threads: int = 0) -> dict:
    """Self-play as training plays it, in as many self-play threads as training would use
    (`threads` = 0) or in `threads`; `refill=False` starts every game together and plays all of
    them to the end before starting more, as self-play did before it was continuous."""
    ev = _evaluator(game, device, precision)
    config = TrainConfig().override(games_per_iteration=games_in_lockstep, simulations=SIMULATIONS,
                         fast_simulations=SIMULATIONS, full_search_share=1.0, leaves_per_wave=LEAVES_PER_WAVE,
                         temperature_moves=8, selfplay_threads=threads)
    rng = np.random.default_rng(0)
    selfplay = ThreadedSelfPlay(game, config, refill, selfplay_threads(config, ev.device))
    moves, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        moves += selfplay.play(ev, rng).moves
    total = time.perf_counter() - t0
    return _figures(moves, total, ev, selfplay.threads)


def _figures(moves: int, seconds: float, ev: NetworkEvaluator, threads: int = 1) -> dict:
    """Inference share: of each self-play thread's time, averaged over the threads."""
    return {"positions_per_s": moves / seconds, "inference_share": ev.seconds / (seconds * threads),
            "positions": moves, "evaluated": ev.positions, "mean_batch": ev.mean_batch, "threads": threads}


def sequential(game, seconds: float, device: str, precision: str = "auto") -> dict:
    ev = _evaluator(game, device, precision)
    config = mcts.SearchConfig(num_simulations=SIMULATIONS, leaves_per_wave=1, dirichlet_fraction=0.25,
                               win_check=TrainConfig().search.win_check)  # the same search as the batched side
    rng = np.random.default_rng(0)
    moves, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        state = game.new_initial_state()
        while not state.is_terminal() and time.perf_counter() - t0 < seconds:
            result = mcts.search(game, [state], ev, config, rng)
            state.apply_action(int(result.action[0]))
            moves += 1
    total = time.perf_counter() - t0
    return _figures(moves, total, ev)


def network_gain(game, seconds: float, device: str, batch: int = GAMES_IN_LOCKSTEP * LEAVES_PER_WAVE,
                 precision: str = "auto") -> float:
    """Forward passes alone, through the same evaluator: positions per second at the batched
    side's full wave over those at batch 1. Self-play adds search work to both sides, so this
    ratio is what batching can gain on this machine, give or take the sides' search overheads."""
    ev = _evaluator(game, device, precision)
    obs = game.new_initial_state().observation()[None].astype(np.float32)

    def rate(x: np.ndarray) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 10:
            ev._forward(x)
            n += len(x)
        return n / (time.perf_counter() - t0)

    one, wave = obs, np.repeat(obs, batch, axis=0)
    rate(one), rate(wave)  # warm-up
    # Alternating short rounds, best of five each: a shared machine's slow spells hit both sides.
    rounds = [(rate(one), rate(wave)) for _ in range(5)]
    return max(w for _, w in rounds) / max(o for o, _ in rounds)


def main(seconds: float = 20.0, names: list[str] | None = None, device: str = "auto",
         precision: str = "auto") -> list[dict]:
    check_precision(precision, resolve_device(device))
    rows = []
    print(f"network {NETWORK.blocks} blocks x {NETWORK.channels} channels, {SIMULATIONS} simulations per move, "
          f"precision {precision}")
    for name in names or ["connect4", "go9"]:
        if name not in GAMES:
            raise ValueError(f"unknown benchmark game {name!r}; choose from {', '.join(GAMES)}.")
        game = games.make(name)
        seq = sequential(game, seconds, device, precision)
        bat = batched(game, seconds, device, precision=precision)
        ratio = bat["positions_per_s"] / seq["positions_per_s"]
        ceiling = network_gain(game, max(2.0, seconds / 2), device, precision=precision)
        rows.append({"game": name, "sequential": seq, "batched": bat, "ratio": ratio, "network_gain": ceiling})
        for label, side in (("sequential (1 game, 1 position per network call)", seq),
                            (f"batched ({GAMES_IN_LOCKSTEP} games, {bat['threads']} "
                             f"thread{'s' * (bat['threads'] > 1)})", bat)):
            print(f"{name}: {label:50} {side['positions_per_s']:8.1f} positions/s, inference "
                  f"{side['inference_share']:.0%} of the time, {side['mean_batch']:.0f} per network call")
        print(f"{name}: batched over sequential: {ratio:.1f}x; the network alone, batch "
              f"{GAMES_IN_LOCKSTEP * LEAVES_PER_WAVE} over batch 1: {ceiling:.1f}x (what batching can gain here)")
    return rows


if __name__ == "__main__":
    main()
