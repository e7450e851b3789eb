"""Checkpoints: plain tensors and metadata, written atomically, read with weights_only=True.

A checkpoint holds the model and optimizer state, the step and iteration counters, RNG states,
the metrics of its iteration, and metadata (game, network configuration, format version), so
it can be played, resumed, or refused with a clear reason.
"""

from __future__ import annotations

import os

import torch

from engine.nets.network import NetworkConfig, PolicyValueNet

FORMAT = 1


class CheckpointError(ValueError):
    """A file that is not a move37 checkpoint for this purpose."""


def save(path: str, payload: dict) -> None:
    payload = dict(payload, format=FORMAT)
    tmp = path + ".tmp"
    torch.save(payload, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: str, game_name: str | None = None) -> dict:
    if not os.path.exists(path):
        raise CheckpointError(f"no checkpoint at {path}.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} is not a readable move37 checkpoint ({type(e).__name__}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "model" not in data or "meta" not in data:
        raise CheckpointError(f"{path} is not a move37 checkpoint.")
    if game_name is not None and data["meta"].get("game") != game_name:
        raise CheckpointError(f"{path} is a checkpoint for {data['meta'].get('game')}, not for {game_name}.")
    return data


def resolve_path(path: str) -> str:
    """A checkpoint file, or a run directory (its best checkpoint, else its latest)."""
    if os.path.isdir(path):
        for name in ("best.pt", "latest.pt"):
            p = os.path.join(path, "checkpoints", name)
            if os.path.exists(p):
                return p
        raise CheckpointError(f"run directory {path} has no checkpoint yet.")
    return path


def network_from(data: dict, game):
    """The policy/value network a checkpoint holds, checked against the game it is for."""
    meta = data["meta"]
    if tuple(meta["observation_shape"]) != tuple(game.observation_shape) or meta["num_actions"] != game.num_actions:
        raise CheckpointError(f"the checkpoint's network does not fit {game.name} (a different board or encoding).")
    net = PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(**meta["network"]))
    net.load_state_dict(data["model"])
    return net.eval()
