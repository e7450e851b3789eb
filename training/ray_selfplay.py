"""Self-play on Ray actors: `move37 train GAME --ray [ADDRESS|local]`.

The trainer stays the driver and the only owner of the learner, the replay data, the
checkpoints and the run lock; this module only moves `ThreadedSelfPlay`'s lockstep groups into
Ray actors, which may sit on other machines. Each actor holds one group (a `SelfPlay`, whose
unfinished games carry over to the next iteration as they do in a thread) and its own
evaluator. Per iteration:

- the driver puts the network once (`ray.put`, with its int8 calibration positions) and sends
  every actor the reference and a version number; an actor rebuilds its evaluator only when
  the version changes;
- each actor plays its share of the iteration's games from the seed the threaded path would
  give its thread, and returns them as its task's result; the driver merges them in group
  order, so with the same seeds, groups, threads per group and fp32 the replay data is the
  threaded path's, byte for byte (tests/test_ray.py);
- an actor that dies (SIGKILL, a lost node) is restarted by Ray (`max_restarts`) and its task
  is submitted again, so the iteration still ends with its configured games; the games it had
  in play are dropped, never half-written, and counted (`lost_games`, `lost_tasks` in
  metrics.jsonl). A driver or head node that dies is what `--resume` is for.

Nothing outside this module imports Ray, so the switch costs nothing without it. A local
cluster starts lean: no dashboard, a bounded object store.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch

import games
from engine.nets.network import GraphSlot
from training.config import TrainConfig
from training.selfplay import MIN_GAMES_PER_THREAD, SelfPlay, SelfPlayBatch, merge_batches

try:
    import ray
except ImportError:  # pragma: no cover - said in one sentence by connect()
    ray = None

# A local cluster's object store: weights and a few iterations of games, not a share of RAM.
OBJECT_STORE_BYTES = 256 * 2**20
# An actor restarts this many times over a run. A lost task goes out again after a growing
# pause (an actor on a lost node answers "unavailable" until Ray's health checks mark the
# node dead, and then restarts it elsewhere); a worker still failing
# after PATIENCE_SECONDS stops the run with one sentence.
MAX_RESTARTS = 1000
PATIENCE_SECONDS = 180.0
START_SECONDS = 300.0  # for every actor to start: importing torch and move37 on a busy node


class RayError(ValueError):
    """Self-play on Ray cannot start or go on, said in one sentence."""


def connect(address: str) -> bool:
    """Join the Ray cluster at `address`, or start a lean one on this machine for `local`;
    True when this call started Ray (so closing should stop it)."""
    if ray is None:
        raise RayError("--ray needs Ray: pip install 'move37[ray]'.")
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from a training run
    if address == "local":  # a new cluster of this machine's CPUs, guarded by Ray's token (its default)
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        ray.init(address="local", num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False,
                 object_store_memory=OBJECT_STORE_BYTES, logging_level=logging.WARNING)
        return True
    _check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RayError(f"cannot join the Ray cluster at {address}: {reason}") from None
    return False


def _check_reachable(address: str) -> None:
    """One sentence now for a HOST:PORT nobody listens on (Ray itself would retry for minutes)."""
    import socket

    host, colon, port = address.rpartition(":")
    if "://" in address or not colon or not port.isdigit():
        return  # auto, ray:// client addresses and the like: left to Ray
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as e:
        raise RayError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}; start one with "
                       f"`ray start --head` or use --ray local.") from None


def worker_count(config: TrainConfig) -> int:
    """`ray_workers`, or with 0 one actor per CPU of the cluster, each keeping at least
    MIN_GAMES_PER_THREAD games (the threaded path's rule, with the cluster's CPUs)."""
    n = config.games_per_iteration
    if config.ray_workers > 0:
        return min(config.ray_workers, n)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(cpus, n // MIN_GAMES_PER_THREAD))


@dataclass
class WorkerResult:
    batch: SelfPlayBatch
    counters: SimpleNamespace  # the evaluator's positions, calls, hits and seconds
    live: int  # games still in play on the actor, carried over to its next task
    load_seconds: float  # fetching and rebuilding the network (0 when the version was current)
    node: str
    pid: int
    rng_state: dict | None  # a single group plays from the driver's own generator: its new state


class SelfPlayWorker:
    """One lockstep group of self-play games in a Ray actor (made remote by RaySelfPlay)."""

    def __init__(self, config: TrainConfig, refill: bool, torch_threads: int):
        torch.set_num_threads(torch_threads)
        self.selfplay = SelfPlay(games.make(config.game), config, refill)
        self.device = "auto"  # the CPU: Ray shows an actor no GPU unless it asks for one, and these do not
        self.version = None
        self.evaluator = None
        self.graph = GraphSlot()  # one traced graph for every version (engine/nets/network.py)

    def where(self) -> tuple[str, int]:
        return ray.get_runtime_context().get_node_id(), os.getpid()

    def play(self, version: int, weights: list, rng) -> WorkerResult:
        """Play the group's share of an iteration. `weights` is a one-element list around the
        network's object reference, so that Ray fetches it only when this actor needs it."""
        from engine.nets.inference import NetworkEvaluator

        t0 = time.perf_counter()
        if version != self.version:
            self.evaluator = NetworkEvaluator(**ray.get(weights[0]), device=self.device, graph=self.graph)
            self.version = version
        load = time.perf_counter() - t0
        evaluator = self.evaluator.fork()  # a fresh cache per task, as each thread gets
        own = isinstance(rng, np.random.Generator)
        generator = rng if own else np.random.default_rng(rng)
        batch = self.selfplay.play(evaluator, generator)
        counters = SimpleNamespace(positions=evaluator.positions, calls=evaluator.calls, hits=evaluator.hits,
                                   seconds=evaluator.seconds)
        node, pid = self.where()
        return WorkerResult(batch, counters, len(self.selfplay.live), load, node, pid,
                            generator.bit_generator.state if own else None)


class RaySelfPlay:
    """ThreadedSelfPlay's interface (`play(evaluator, rng)`, `threads`) over Ray actors."""

    def __init__(self, config: TrainConfig, refill: bool, address: str):
        self.started = connect(address)
        try:
            n = worker_count(config)
            shares = [config.games_per_iteration // n + (i < config.games_per_iteration % n) for i in range(n)]
            threads = max(1, torch.get_num_threads() // n)  # the threaded path's threads per group
            # each actor reserves its threads' CPUs, or an equal share where more actors were
            # asked for than the cluster has CPUs (they then share them, as threads would)
            cpus = min(threads, ray.cluster_resources().get("CPU", 1) / n)
            remote = ray.remote(num_cpus=cpus, max_restarts=MAX_RESTARTS, max_task_retries=0,
                                scheduling_strategy="SPREAD")(SelfPlayWorker)
            self.actors = [remote.remote(dataclasses.replace(config, games_per_iteration=k), refill, threads)
                           for k in shares]
            # waits for every actor to start, so that a worker that cannot start says so now
            try:
                self.placement = ray.get([a.where.remote() for a in self.actors], timeout=START_SECONDS)
            except ray.exceptions.GetTimeoutError:
                raise RayError(f"{n} self-play actors did not all start within {START_SECONDS:.0f} s; the "
                               f"cluster has no room for them (`ray status` shows what it has).") from None
        except BaseException:
            self.close()
            raise
        self.live = [0] * n  # games each actor had in play at its last report
        self.version = 0
        self.published = None  # the evaluator whose network the actors were last sent
        self.weights = None
        self.on_submit = None  # called with this object once an iteration's tasks are out (tests)

    @property
    def threads(self) -> int:
        return len(self.actors)

    def pids(self) -> list[int]:
        """Each actor's process id, as last seen."""
        return [pid for _, pid in self.placement]

    def play(self, evaluator, rng: np.random.Generator) -> SelfPlayBatch:
        send = 0.0
        if evaluator is not self.published:  # a new network: one copy in the object store for all
            t0 = time.perf_counter()
            self.version += 1
            self.weights = ray.put(evaluator.portable())
            self.published = evaluator
            send = time.perf_counter() - t0
        n = len(self.actors)
        # one group plays from the driver's generator, several from seeds drawn from it, as in
        # ThreadedSelfPlay
        seeds = [rng] if n == 1 else [int(s) for s in rng.integers(0, 2**63, size=n)]
        pending = {self._submit(i, seeds[i]): i for i in range(n)}
        if self.on_submit:
            self.on_submit(self)
        results: list[WorkerResult | None] = [None] * n
        failing_since: dict[int, float] = {}
        resubmits = [0] * n
        lost_games = lost_tasks = 0
        receive = 0.0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            t0 = time.perf_counter()
            try:
                result = ray.get(ready[0])
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as e:
                # the actor (or the node holding its result) is gone: Ray restarts the actor, its
                # games in play are dropped, and the task goes out again
                lost_games += self.live[i]
                lost_tasks += 1
                self.live[i] = 0
                resubmits[i] += 1
                since = failing_since.setdefault(i, time.perf_counter())
                if time.perf_counter() - since > PATIENCE_SECONDS:
                    raise RayError(f"self-play worker {i} kept failing for {PATIENCE_SECONDS:.0f} s "
                                   f"({type(e).__name__}); the cluster cannot keep it alive.") from None
                time.sleep(min(0.5 * 2 ** (resubmits[i] - 1), 8.0))  # the other tasks go on meanwhile
                pending[self._submit(i, seeds[i])] = i
                continue
            receive += time.perf_counter() - t0
            results[i] = result
            self.live[i] = result.live
            self.placement[i] = (result.node, result.pid)
        if n == 1:
            rng.bit_generator.state = results[0].rng_state
        for r in results:
            evaluator.absorb(r.counters)
        send += max(r.load_seconds for r in results)
        return dataclasses.replace(merge_batches([r.batch for r in results]), lost_games=lost_games,
                                   lost_tasks=lost_tasks, send_seconds=send, receive_seconds=receive,
                                   nodes=len({r.node for r in results}))

    def _submit(self, i: int, seed):
        return self.actors[i].play.remote(self.version, [self.weights], seed)

    def close(self) -> None:
        """Stop the actors, and Ray itself when this run started it."""
        for actor in getattr(self, "actors", []):
            ray.kill(actor)
        self.actors = []
        if self.started and ray.is_initialized():
            ray.shutdown()
