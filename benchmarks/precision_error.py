"""How far a trained network's outputs move under bf16 and int8, against fp32, on positions
from its own run's replay data: the check to make before training or playing with int8.

    python -m benchmarks.precision_error RUN_DIR [--positions N] [--calibration replay|random|openings]

Prints, per precision: the mean and 99th-percentile KL divergence of the policy from fp32's,
how often the top move agrees, and the mean and largest change of the value. The int8 copy
calibrates on other positions of the same run, as training's does (`replay`), on random games
as checkpoint players do (`random`), or on 50 two-ply openings (`openings`: what goes wrong
when calibration sees only the start of games).
"""

from __future__ import annotations

import argparse
import glob
import os

import numpy as np
import torch

import games
from engine.nets.checkpoint import load, network_from, resolve_path
from engine.nets.cpu import cpu_has_native_bf16, cpu_has_vnni
from engine.nets.inference import INT8_CALIBRATION_POSITIONS, NetworkEvaluator
from games.random_play import random_game_observations, random_opening


def replay_positions(run_dir: str, n: int, seed: int = 0) -> np.ndarray:
    """Up to `n` observations, shuffled, from the run's newest replay chunks."""
    chunks = sorted(glob.glob(os.path.join(run_dir, "replay", "chunk_*.npz")))
    if not chunks:
        raise ValueError(f"{run_dir} has no replay data.")
    obs = []
    for path in reversed(chunks):
        with np.load(path) as data:
            obs.append(data["obs"])
        if sum(len(o) for o in obs) >= n:
            break
    obs = np.concatenate(obs)
    rows = np.random.default_rng(seed).permutation(len(obs))[:n]
    return obs[rows].astype(np.float32)


def compare(run_dir: str, positions: int = 4096, source: str = "replay") -> dict:
    """Error per precision this CPU runs natively, with int8 calibrated on `source`."""
    data = load(resolve_path(os.path.join(run_dir, "checkpoints", "latest.pt")))
    game = games.make(data["meta"]["game"])
    net = network_from(data, game)
    obs = replay_positions(run_dir, positions + INT8_CALIBRATION_POSITIONS)
    split = min(INT8_CALIBRATION_POSITIONS, len(obs) // 2)  # a short run's replay is shared out
    test = obs[split:]
    calibration = {"replay": lambda: obs[:split], "random": lambda: random_game_observations(game),
                   "openings": lambda: _openings(game, 50)}[source]()
    masks = np.ones((len(test), game.num_actions), bool)  # the policy over every move, legal or not
    reference = NetworkEvaluator(net, "cpu", cache_size=0, precision="fp32").evaluate(test, masks)
    precisions = (["bf16"] if cpu_has_native_bf16() else []) + (["int8"] if cpu_has_vnni() else [])
    out = {}
    for precision in precisions:
        ev = NetworkEvaluator(net, "cpu", cache_size=0, precision=precision, calibration=calibration)
        out[precision] = _error(reference, ev.evaluate(test, masks))
    return out


def _openings(game, n: int) -> np.ndarray:
    """Observations after two random plies: what a match's first wave holds."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        state = game.new_initial_state()
        for action in random_opening(game, 2, rng):
            state.apply_action(action)
        out.append(state.observation())
    return np.stack(out).astype(np.float32)


def _error(reference, other) -> dict:
    (p, v), (q, w) = reference, other
    kl = np.sum(p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(q, 1e-12))), axis=1)
    return {"kl_mean": float(kl.mean()), "kl_p99": float(np.quantile(kl, 0.99)),
            "top_move_agrees": float(np.mean(p.argmax(1) == q.argmax(1))),
            "value_error_mean": float(np.abs(v - w).mean()), "value_error_max": float(np.abs(v - w).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--positions", type=int, default=4096)
    parser.add_argument("--calibration", choices=("replay", "random", "openings"), default="replay")
    args = parser.parse_args()
    torch.manual_seed(0)
    for precision, e in compare(args.run_dir, args.positions, args.calibration).items():
        print(f"{precision}: policy KL mean {e['kl_mean']:.4f}, p99 {e['kl_p99']:.4f}; top move agrees "
              f"{e['top_move_agrees']:.1%}; value error mean {e['value_error_mean']:.4f}, max {e['value_error_max']:.3f}")


if __name__ == "__main__":
    main()
