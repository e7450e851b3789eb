"""The replay window: the latest positions, sampled with a random board symmetry each."""

from __future__ import annotations

import os

import numpy as np


class ReplayBuffer:
    def __init__(self, capacity: int, observation_shape, num_actions: int):
        self.capacity = capacity
        self.obs = np.zeros((capacity, *observation_shape), np.float32)
        self.policy = np.zeros((capacity, num_actions), np.float32)
        self.value = np.zeros(capacity, np.float32)
        self.size = 0
        self.next = 0  # ring position
        self.total = 0  # positions ever added

    def add(self, obs: np.ndarray, policy: np.ndarray, value: np.ndarray) -> None:
        for i in range(0, len(obs), self.capacity):  # a batch larger than the window keeps its tail
            o, p, v = obs[i:i + self.capacity], policy[i:i + self.capacity], value[i:i + self.capacity]
            idx = (self.next + np.arange(len(o))) % self.capacity
            self.obs[idx], self.policy[idx], self.value[idx] = o, p, v
            self.next = int((self.next + len(o)) % self.capacity)
            self.size = min(self.capacity, self.size + len(o))
        self.total += len(obs)

    def sample(self, batch: int, rng: np.random.Generator, symmetries=()):
        """A batch of (obs, policy, value); each position under a random board symmetry."""
        idx = rng.integers(0, self.size, size=batch)
        obs, policy, value = self.obs[idx].copy(), self.policy[idx].copy(), self.value[idx].copy()
        if len(symmetries) > 1:
            which = rng.integers(0, len(symmetries), size=batch)
            for k, sym in enumerate(symmetries):
                rows = np.flatnonzero(which == k)
                if len(rows) and sym.name != "identity" and sym.name != "rot0":
                    obs[rows] = sym.transform(obs[rows])
                    moved = np.zeros_like(policy[rows])
                    moved[:, sym.action_perm] = policy[rows]
                    policy[rows] = moved
        return obs, policy, value

    def save(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            np.savez(f, obs=self.obs[: self.size], policy=self.policy[: self.size], value=self.value[: self.size],
                     meta=np.array([self.next, self.total, self.size], np.int64))
        os.replace(tmp, path)

    def load(self, path: str) -> None:
        with np.load(path) as data:
            n = len(data["value"])
            self.obs[:n], self.policy[:n], self.value[:n] = data["obs"], data["policy"], data["value"]
            self.next, self.total, self.size = (int(x) for x in data["meta"])
