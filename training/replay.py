"""The replay window: the latest positions, sampled with a random board symmetry each.

Each position holds its observation, search policy and final result, and for games with an
ownership target (Go) the final owner of every point from the mover's view (NaN where the game
ended by resignation, so the owners are unknown)."""

from __future__ import annotations

import os

import numpy as np


class ReplayBuffer:
    def __init__(self, capacity: int, observation_shape, num_actions: int, ownership: bool = False):
        self.capacity = capacity
        self.obs = np.zeros((capacity, *observation_shape), np.float32)
        self.policy = np.zeros((capacity, num_actions), np.float32)
        self.value = np.zeros(capacity, np.float32)
        self.owner = np.zeros((capacity, *observation_shape[1:]), np.float32) if ownership else None
        self.size = 0
        self.next = 0  # ring position
        self.total = 0  # positions ever added

    def add(self, obs: np.ndarray, policy: np.ndarray, value: np.ndarray, owner: np.ndarray | None = None) -> None:
        if self.owner is not None and owner is None:
            owner = np.full((len(obs), *self.owner.shape[1:]), np.nan, np.float32)
        for i in range(0, len(obs), self.capacity):  # a batch larger than the window keeps its tail
            o, p, v = obs[i:i + self.capacity], policy[i:i + self.capacity], value[i:i + self.capacity]
            idx = (self.next + np.arange(len(o))) % self.capacity
            self.obs[idx], self.policy[idx], self.value[idx] = o, p, v
            if self.owner is not None:
                self.owner[idx] = owner[i:i + self.capacity]
            self.next = int((self.next + len(o)) % self.capacity)
            self.size = min(self.capacity, self.size + len(o))
        self.total += len(obs)

    def sample(self, batch: int, rng: np.random.Generator, symmetries=()):
        """A batch of (obs, policy, value, owner or None); each position under a random board
        symmetry."""
        idx = rng.integers(0, self.size, size=batch)
        obs, policy, value = self.obs[idx].copy(), self.policy[idx].copy(), self.value[idx].copy()
        owner = self.owner[idx].copy() if self.owner is not None else None
        if len(symmetries) > 1:
            which = rng.integers(0, len(symmetries), size=batch)
            for k, sym in enumerate(symmetries):
                rows = np.flatnonzero(which == k)
                if len(rows) and sym.name != "identity" and sym.name != "rot0":
                    obs[rows] = sym.transform(obs[rows])
                    moved = np.zeros_like(policy[rows])
                    moved[:, sym.action_perm] = policy[rows]
                    policy[rows] = moved
                    if owner is not None:
                        owner[rows] = sym.transform(owner[rows])
        return obs, policy, value, owner

    # ---- persistence: one chunk per iteration, so each save writes only what is new ------
    @staticmethod
    def save_chunk(directory: str, iteration: int, obs, policy, value, owner=None) -> None:
        path = os.path.join(directory, f"chunk_{iteration:07d}.npz")
        extra = {} if owner is None else {"owner": owner}
        with open(path + ".tmp", "wb") as f:
            np.savez(f, obs=obs, policy=policy, value=value, **extra)
        os.replace(path + ".tmp", path)

    @staticmethod
    def _chunks(directory: str) -> list[tuple[int, str]]:
        out = []
        for name in os.listdir(directory):
            if name.startswith("chunk_") and name.endswith(".npz"):
                out.append((int(name[6:-4]), os.path.join(directory, name)))
        return sorted(out)

    def prune(self, directory: str) -> None:
        """Delete chunks wholly outside the window (the newest chunks that fill it stay)."""
        kept = 0
        for it, path in reversed(self._chunks(directory)):
            if kept >= self.capacity:
                os.remove(path)
                continue
            with np.load(path) as data:
                kept += len(data["value"])

    def load_chunks(self, directory: str, upto: int) -> None:
        """Refill the window from the chunks of iterations 1..upto; later ones (written by an
        iteration that was cut off before its checkpoint) are removed."""
        wanted = []
        total = 0
        for it, path in reversed(self._chunks(directory)):
            if it > upto:
                os.remove(path)
            elif total < self.capacity:
                wanted.append(path)
                with np.load(path) as data:
                    total += len(data["value"])
        for path in reversed(wanted):
            with np.load(path) as data:
                self.add(data["obs"], data["policy"], data["value"], data["owner"] if "owner" in data else None)
