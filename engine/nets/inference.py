"""The network as an `mcts` evaluator: one batched forward pass per simulation wave.

The same code runs on CPU and GPU: `device="auto"` picks CUDA when present. The evaluator runs
its own inference copy of the network (batch norms folded into the convolutions, channels-last
memory) under `torch.inference_mode`, in bf16 autocast on CUDA and, on CPUs with native bf16
instructions, for batches large enough to gain from it (docs/METHODS.md has the figures). fp32
passes on a CPU run a traced TorchScript graph of that copy, which spares small batches most of
their cost in Python.
`precision="int8"` runs those large CPU batches through an int8 copy instead (engine/nets/quantize.py).
Positions already evaluated are answered from a cache keyed by the observation bytes.
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict

import numpy as np
import torch

from engine.nets.cpu import cpu_has_native_bf16, cpu_has_vnni
from engine.nets.network import GraphSlot, inference_copy
from engine.nets.quantize import int8_copy

PRECISIONS = ("auto", "fp32", "bf16", "int8")
# Below this batch size autocast's casts cost a CPU more than bf16 arithmetic saves, and
# quantizing the input costs more than int8 arithmetic saves.
CPU_BF16_MIN_BATCH = 32
CPU_INT8_MIN_BATCH = 32
# Calibration positions for an int8 copy.
INT8_CALIBRATION_POSITIONS = 1024


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


def check_precision(precision: str, device: torch.device | None = None) -> None:
    """One clear sentence for a precision this machine (or `device`, when given) cannot run."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}.")
    if precision == "int8" and device is not None:
        if device.type != "cpu":
            raise ValueError("precision int8 runs on a CPU only; use auto or bf16 on a GPU.")
        if not cpu_has_vnni():
            raise ValueError("precision int8 needs a CPU with int8 dot products (VNNI); this one has none, "
                             "so use auto.")


def autocast_dtype(device: torch.device, precision: str, batch: int) -> torch.dtype | None:
    """bf16 where it is faster than fp32 for this batch size, else None (plain fp32). With
    `int8`, what autocast does is what `auto` does: training steps and small batches."""
    check_precision(precision)
    if precision == "fp32":
        return None
    if precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    return torch.bfloat16 if cpu_has_native_bf16() and batch >= CPU_BF16_MIN_BATCH else None


def autocast(device: torch.device, precision: str, batch: int):
    """The autocast context for a forward pass of `batch` positions; inference and training
    steps alike."""
    dtype = autocast_dtype(device, precision, batch)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


class NetworkEvaluator:
    """Evaluates with a snapshot of `net` taken at construction: build a new evaluator after
    the weights change."""

    def __init__(self, net: torch.nn.Module, device: str = "auto", cache_size: int = 100_000,
                 compile: bool = False, precision: str = "auto", calibration: np.ndarray | None = None,
                 graph: GraphSlot | None = None):
        """`calibration`: with precision int8, the observations that set the int8 copy's
        activation ranges (engine/nets/quantize.py says which). `graph`: the slot whose traced
        graph a CPU evaluator reuses, for code that builds one evaluator after another (a
        trainer, once per iteration); the evaluator built before from the same slot must no
        longer be used for forward passes."""
        self.device = resolve_device(device)
        check_precision(precision, self.device)
        self.precision = precision
        self.model = inference_copy(net).to(self.device)
        self.forward = torch.compile(self.model) if compile else self.model
        self.fp32 = self.forward  # what runs a pass that autocast leaves in fp32
        if self.device.type == "cpu" and not compile:
            example = torch.zeros(1, *self.model.observation_shape).contiguous(memory_format=torch.channels_last)
            self.fp32 = (graph or GraphSlot()).load(self.model, example)
        self.int8 = None
        self.calibration = calibration  # kept so that the evaluator can be rebuilt elsewhere (portable())
        if precision == "int8":
            if calibration is None or not len(calibration):
                raise ValueError("precision int8 needs calibration positions.")
            self.int8 = int8_copy(self.model, torch.from_numpy(np.asarray(calibration, np.float32)))
        self.cache: OrderedDict[bytes, tuple[np.ndarray, float]] = OrderedDict()
        self.cache_size = cache_size
        self.positions = 0  # evaluated by the network (not from the cache)
        self.calls = 0  # forward passes
        self.hits = 0
        self.seconds = 0.0  # spent in forward passes, transfers included

    def fork(self) -> "NetworkEvaluator":
        """An evaluator for another self-play thread: the same networks (forward passes are
        safe to run at once from several threads), its own cache and counters."""
        other = copy.copy(self)
        other.cache = OrderedDict()
        other.positions = other.calls = other.hits = 0
        other.seconds = 0.0
        return other

    def portable(self) -> dict:
        """What rebuilds this evaluator in another process (`NetworkEvaluator(**portable)`):
        the inference copy on the CPU, the precision and the int8 calibration positions."""
        return {"net": copy.deepcopy(self.model).cpu(), "precision": self.precision, "calibration": self.calibration}

    def absorb(self, other) -> None:
        """Add a fork's counters to this evaluator's, once its thread is done."""
        self.positions += other.positions
        self.calls += other.calls
        self.hits += other.hits
        self.seconds += other.seconds

    @property
    def mean_batch(self) -> float:
        """Positions per forward pass so far: how full the network's batches were."""
        return self.positions / max(self.calls, 1)

    def clear_cache(self) -> None:
        self.cache.clear()

    def _forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        self.calls += 1
        try:
            return self._forward_timed(obs)
        finally:
            self.seconds += time.perf_counter() - t0

    def _forward_timed(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(obs).to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        if self.int8 is not None and len(obs) >= CPU_INT8_MIN_BATCH:
            with torch.inference_mode():
                logits, values = self.int8(x)
            return logits.float().numpy(), values.float().numpy()
        reduced = autocast_dtype(self.device, self.precision, len(obs)) is not None
        with torch.inference_mode(), autocast(self.device, self.precision, len(obs)):
            logits, values = (self.forward if reduced else self.fp32)(x)
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
