"""Self-play on Ray against self-play in threads, as training runs them.

    move37 bench ray [--games connect4] [--seconds S]

Each row is a short training run with the game's bundled settings (`move37 train GAME`, no
evaluation): the same learner, the same settings and seeds, only where self-play plays
changes: in 1, 2, 4 ... threads of this process, or in as many Ray actors on a local cluster
(one node: this machine). After one warm-up iteration (kernels compiled, actors started),
iterations run until self-play has taken `seconds` (default 60). Printed per row: self-play
positions per second (every move played, as metrics.jsonl counts them), the ratio to the
threaded row with as many groups, the seconds per iteration spent sending weights and
receiving games, and the learner's idle share (the share of each iteration it waits for
self-play; training waits for its games, so this is the share a second learner could not use).

The last line estimates, from the one-actor row, how many such actors one learner keeps up
with: an actor needs S seconds for an iteration's games, the learner T seconds to train on
them, so beyond about S / T actors the learner, not self-play, sets the pace.
"""

from __future__ import annotations

import io
import os
import tempfile
import time

from training.config import resolve

DEFAULT_GAMES = ("connect4",)


def _groups() -> list[int]:
    cpus = len(os.sched_getaffinity(0))
    out, n = [], 1
    while n <= cpus:
        out.append(n)
        n *= 2
    return out


def _row(game: str, groups: int, seconds: float, ray_address: str | None) -> dict:
    from training.run import Trainer

    key = "ray_workers" if ray_address else "selfplay_threads"
    config = resolve(game, assignments=["eval_games=0", "minutes=0", "iterations=100000", f"{key}={groups}"])
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, run_dir, out=io.StringIO(), ray=ray_address)
        try:
            trainer.iterate()  # warm-up
            rows = []
            while len(rows) < 2 or sum(m["selfplay_seconds"] for m in rows) < seconds:
                t0 = time.perf_counter()
                metrics = trainer.iterate()
                metrics["wall_seconds"] = time.perf_counter() - t0
                rows.append(metrics)
        finally:
            trainer.close()
    selfplay = sum(m["selfplay_seconds"] for m in rows)
    n = len(rows)
    return {"positions_per_second": sum(m["moves"] for m in rows) / selfplay,
            "send_seconds": sum(m["send_seconds"] for m in rows) / n,
            "receive_seconds": sum(m["receive_seconds"] for m in rows) / n,
            "idle_share": selfplay / sum(m["wall_seconds"] for m in rows),
            "selfplay_seconds": selfplay / n, "train_seconds": sum(m["train_seconds"] for m in rows) / n,
            "iterations": n}


def main(names=None, seconds: float = 60.0) -> list[dict]:
    try:
        from training.ray_selfplay import connect
    except ImportError:
        raise ValueError("the ray benchmark needs Ray: pip install 'move37[ray]'.") from None
    import ray

    started = connect("local")
    results = []
    try:
        for game in names or DEFAULT_GAMES:
            print(f"{game}: self-play as `move37 train {game}` plays it (bundled settings, no evaluation), "
                  f"{seconds:g} s of self-play per row after one warm-up iteration")
            print(f"  {'where':<14} {'pos/s':>8} {'vs threads':>10} {'send s':>7} {'receive s':>9} "
                  f"{'learner idle':>12} {'iterations':>10}")
            rows = []
            for path in ("threads", "ray"):
                for groups in _groups():
                    r = _row(game, groups, seconds, "local" if path == "ray" else None)
                    r.update(path=path, groups=groups, ratio=None)
                    if path == "ray":  # against the threaded row with as many groups
                        same = next(t for t in rows if t["path"] == "threads" and t["groups"] == groups)
                        r["ratio"] = r["positions_per_second"] / same["positions_per_second"]
                    rows.append(r)
                    where = f"{groups} {'thread' if path == 'threads' else 'actor'}{'s' if groups > 1 else ''}"
                    ratio = f"{r['ratio']:.2f}x" if r["ratio"] else ""
                    print(f"  {where:<14} {r['positions_per_second']:>8.0f} {ratio:>10} {r['send_seconds']:>7.3f} "
                          f"{r['receive_seconds']:>9.3f} {r['idle_share']:>12.0%} {r['iterations']:>10}", flush=True)
            one = next(r for r in rows if r["path"] == "ray" and r["groups"] == 1)
            actors = one["selfplay_seconds"] / max(one["train_seconds"], 1e-9)
            print(f"  one learner like this one keeps up with about {actors:.1f} actors like these: an actor plays "
                  f"an iteration's games in {one['selfplay_seconds']:.1f} s, the learner trains on them in "
                  f"{one['train_seconds']:.1f} s")
            results.append({"game": game, "rows": rows, "actors_per_learner": actors})
    finally:
        if started:
            ray.shutdown()
    return results
