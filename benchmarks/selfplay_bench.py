"""Self-play speed: positions per second and the share of time in network inference, for
batched lockstep self-play against an alpha-zero-general-style baseline built from our own
code (one game at a time, one leaf per wave, so every network call sees one position).

    move37 bench selfplay [--seconds S] [--games connect4,go9]
"""

from __future__ import annotations

import time

import numpy as np

import games
import mcts
from engine.inference import NetworkEvaluator
from engine.network import NetworkConfig, PolicyValueNet
from training.config import TrainConfig
from training.selfplay import SelfPlay

NETWORK = NetworkConfig(blocks=4, channels=32)
SIMULATIONS = 64
GAMES_IN_LOCKSTEP = 128
LEAVES_PER_WAVE = 2


def _evaluator(game, device: str) -> NetworkEvaluator:
    net = PolicyValueNet(game.observation_shape, game.num_actions, NETWORK)
    return NetworkEvaluator(net, device, cache_size=0)  # no cache: every position is a forward pass


def batched(game, seconds: float, device: str, games_in_lockstep: int = GAMES_IN_LOCKSTEP) -> dict:
    ev = _evaluator(game, device)
    config = TrainConfig(games_per_iteration=games_in_lockstep, simulations=SIMULATIONS,
                         fast_simulations=SIMULATIONS, full_search_share=1.0, leaves_per_wave=LEAVES_PER_WAVE,
                         temperature_moves=8)
    rng = np.random.default_rng(0)
    selfplay = SelfPlay(game, config)  # as training plays: a new game starts whenever one ends
    moves, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        moves += selfplay.play(ev, rng).moves
    total = time.perf_counter() - t0
    return {"positions_per_s": moves / total, "inference_share": ev.seconds / total, "evaluated": ev.positions}


def sequential(game, seconds: float, device: str) -> dict:
    ev = _evaluator(game, device)
    config = mcts.SearchConfig(num_simulations=SIMULATIONS, leaves_per_wave=1, dirichlet_fraction=0.25,
                               win_check=TrainConfig().win_check)  # the same search as the batched side
    rng = np.random.default_rng(0)
    moves, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        state = game.new_initial_state()
        while not state.is_terminal() and time.perf_counter() - t0 < seconds:
            result = mcts.search(game, [state], ev, config, rng)
            state.apply_action(int(result.action[0]))
            moves += 1
    total = time.perf_counter() - t0
    return {"positions_per_s": moves / total, "inference_share": ev.seconds / total, "evaluated": ev.positions}


def network_gain(game, seconds: float, device: str, batch: int = GAMES_IN_LOCKSTEP * LEAVES_PER_WAVE) -> float:
    """Forward passes alone, through the same evaluator: positions per second at the batched
    side's full wave over those at batch 1. Self-play adds search work to both sides, so this
    ratio is what batching can gain on this machine, give or take the sides' search overheads."""
    ev = _evaluator(game, device)
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

def main(seconds: float = 20.0, names: list[str] | None = None, device: str = "auto") -> list[dict]:
    rows = []
    print(f"network {NETWORK.blocks} blocks x {NETWORK.channels} channels, {SIMULATIONS} simulations per move")
    for name in names or ["connect4", "go9"]:
        if name not in ("connect4", "go9", "tictactoe", "othello", "gomoku"):
            raise ValueError(f"unknown benchmark game {name!r}; choose from connect4, go9.")
        game = games.make(name)
        seq = sequential(game, seconds, device)
        bat = batched(game, seconds, device)
        ratio = bat["positions_per_s"] / seq["positions_per_s"]
        ceiling = network_gain(game, max(2.0, seconds / 2), device)
        rows.append({"game": name, "sequential": seq, "batched": bat, "ratio": ratio, "network_gain": ceiling})
        print(f"{name}: sequential (1 game, 1 position per network call): {seq['positions_per_s']:8.1f} positions/s, "
              f"inference {seq['inference_share']:.0%} of the time")
        print(f"{name}: batched ({GAMES_IN_LOCKSTEP} games in lockstep):                 {bat['positions_per_s']:8.1f} positions/s, "
              f"inference {bat['inference_share']:.0%} of the time  -> {ratio:.1f}x")
        print(f"{name}: the network alone, batch {GAMES_IN_LOCKSTEP * LEAVES_PER_WAVE} over batch 1:          "
              f"{ceiling:8.1f}x (what batching can gain on this machine)")
    return rows


if __name__ == "__main__":
    main()
