"""The network as an `mcts` evaluator: one batched forward pass per simulation wave.

The same code runs on CPU and GPU: `device="auto"` picks CUDA when present; on CUDA the forward
pass runs in bf16 autocast with channels-last memory, always under `torch.inference_mode`.
Positions already evaluated are answered from a cache keyed by the observation bytes.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use auto, cpu or cuda[:N].") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but this machine has no CUDA GPU.")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use auto, cpu or cuda[:N].")
    return dev


class NetworkEvaluator:
    def __init__(self, net: torch.nn.Module, device: str = "auto", cache_size: int = 100_000,
                 compile: bool = False):
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        if self.device.type == "cuda":
            self.net = self.net.to(memory_format=torch.channels_last)
        self.forward = torch.compile(self.net) if compile else self.net
        self.cache: OrderedDict[bytes, tuple[np.ndarray, float]] = OrderedDict()
        self.cache_size = cache_size
        self.positions = 0  # evaluated by the network (not from the cache)
        self.hits = 0
        self.seconds = 0.0  # spent in forward passes, transfers included

    def clear_cache(self) -> None:
        self.cache.clear()

    def _forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import time

        t0 = time.perf_counter()
        try:
            return self._forward_timed(obs)
        finally:
            self.seconds += time.perf_counter() - t0

    def _forward_timed(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(obs).to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self.device.type == "cuda":
                x = x.to(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits, values = self.forward(x)
            else:
                logits, values = self.forward(x)
        return logits.float().cpu().numpy(), values.float().cpu().numpy()

    def evaluate(self, observations: np.ndarray, legal_masks: np.ndarray, states=None):
        n, a = legal_masks.shape
        priors = np.empty((n, a), np.float32)
        values = np.empty(n, np.float32)
        keys = [o.tobytes() + m.tobytes() for o, m in zip(observations, legal_masks)] if self.cache_size else None
        todo = []
        for i in range(n):
            hit = self.cache.get(keys[i]) if keys else None
            if hit is None:
                todo.append(i)
            else:
                priors[i], values[i] = hit
                self.hits += 1
        if todo:
            idx = np.asarray(todo)
            logits, v = self._forward(np.ascontiguousarray(observations[idx], dtype=np.float32))
            logits = np.where(legal_masks[idx], logits, -np.inf)
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            priors[idx], values[idx] = p, v
            self.positions += len(idx)
            if keys:
                for j, i in enumerate(todo):
                    self.cache[keys[i]] = (p[j].copy(), float(v[j]))
                while len(self.cache) > self.cache_size:
                    self.cache.popitem(last=False)
        return priors, values
