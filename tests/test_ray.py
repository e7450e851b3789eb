"""Self-play on Ray: the same games as the threaded path, workers that die, a node that goes away
and a driver killed mid-run (`move37 train GAME --ray`)."""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="self-play on Ray needs the extra: pip install 'move37[ray]'")

from training.config import resolve  # noqa: E402
from training.run import Trainer  # noqa: E402

SMALL = ["games_per_iteration=16", "search.num_simulations=8", "fast_simulations=4", "batch_size=32",
         "eval_games=0", "precision=fp32", "network=b1c8", "minutes=0", "iterations=3"]  # step-based learning rate


@pytest.fixture(scope="module")
def local_ray():
    """One lean local cluster for the module; a RaySelfPlay that finds Ray running leaves it up."""
    from training.ray_selfplay import connect

    connect("local")
    yield "local"
    ray.shutdown()


def _chunks(run_dir) -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(run_dir, "replay", "chunk_*.npz"))):
        with np.load(path) as data:
            out.append({k: data[k] for k in data.files})
    return out


def _iterate(run_dir, settings, iterations, ray_address=None) -> list[dict]:
    trainer = Trainer(resolve("tictactoe", assignments=[*SMALL, *settings]), str(run_dir), ray=ray_address)
    try:
        return [trainer.iterate() for _ in range(iterations)]
    finally:
        trainer.close()


@pytest.mark.parametrize("groups", [1, 2])
def test_ray_actors_write_the_threaded_paths_replay_data(tmp_path, local_ray, groups):
    """Same seeds, groups, threads per group and fp32: the same positions, policies and values,
    over iterations whose unfinished games carry over inside the actors."""
    threaded = _iterate(tmp_path / "threads", [f"selfplay_threads={groups}"], 3)
    on_ray = _iterate(tmp_path / "ray", [f"ray_workers={groups}"], 3, local_ray)
    a, b = _chunks(tmp_path / "threads"), _chunks(tmp_path / "ray")
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert [m["games"] for m in threaded] == [m["games"] for m in on_ray]
    assert [m["ray_nodes"] for m in on_ray] == [1, 1, 1] and [m["ray_nodes"] for m in threaded] == [0, 0, 0]


def test_an_actor_killed_mid_iteration_costs_its_games_not_the_iteration(tmp_path, local_ray):
    from engine.nets import checkpoint

    trainer = Trainer(resolve("tictactoe", assignments=[*SMALL, "ray_workers=2"]), str(tmp_path), ray=local_ray)
    killed = []

    def kill_second_actor(selfplay):
        killed.append((selfplay.pids()[1], selfplay.live[1]))
        os.kill(killed[-1][0], signal.SIGKILL)

    try:
        first = trainer.iterate()
        trainer.selfplay.on_submit = kill_second_actor
        second = trainer.iterate()
        trainer.selfplay.on_submit = None
        third = trainer.iterate()
        new_pid = trainer.selfplay.pids()[1]
    finally:
        trainer.close()
    (pid, in_play), = killed
    assert in_play > 0  # the dead actor held games carried over from the first iteration
    assert first["lost_tasks"] == third["lost_tasks"] == 0
    # the task went out again (more than once if it reached the actor while Ray restarted it)
    assert second["lost_tasks"] >= 1 and second["lost_games"] == in_play
    assert second["games"] >= 16 and third["games"] >= 16  # the iteration kept its configured games
    assert new_pid != pid  # Ray restarted the actor
    # nothing in the run directory is corrupt
    lines = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [m["iteration"] for m in lines] == [1, 2, 3] and lines[1]["lost_games"] == in_play
    assert sum(len(c["value"]) for c in _chunks(tmp_path)) == sum(m["positions"] for m in lines)
    assert checkpoint.load(str(tmp_path / "checkpoints" / "latest.pt"), "tictactoe")["iteration"] == 3


def test_without_the_switch_nothing_imports_ray(tmp_path):
    code = ("import sys; from engine.cli import main; "
            f"main(['train', 'tictactoe', '--run-dir', {str(tmp_path)!r}, 'iterations=1', "
            "'games_per_iteration=4', 'search.num_simulations=4', 'eval_games=0']); "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert os.path.exists(tmp_path / "checkpoints" / "latest.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_cluster_nobody_runs_gets_one_sentence(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "train", "tictactoe", "--run-dir", str(tmp_path / "r"),
                           "--ray", f"127.0.0.1:{_free_port()}", "iterations=1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot reach a Ray cluster at 127.0.0.1:" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "train", "countdown", "--ray"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--ray applies to game training" in proc.stderr


# ---- two nodes on loopback: a node removed, the driver killed, --resume -------------------------

def _start_node(args: list[str], env: dict) -> subprocess.Popen:
    """`ray start ... --block` in its own process group, once it says it is up."""
    proc = subprocess.Popen(["ray", "start", "--node-ip-address=127.0.0.1", "--block", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for line in proc.stdout:
        if "block forever" in line:
            return proc
    raise AssertionError(f"ray start {' '.join(args)} did not come up")


def _metrics(run_dir) -> list[dict]:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.endswith("\n")]


def _wait_for(run_dir, predicate, proc, timeout=300) -> list[dict]:
    end = time.time() + timeout
    while time.time() < end:
        lines = _metrics(run_dir)
        if lines and predicate(lines):
            return lines
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"timed out; metrics so far: {_metrics(run_dir)}")


@pytest.mark.slow
def test_training_across_two_nodes_survives_losing_one_and_then_the_driver(tmp_path):
    # a cluster that lives for this test only runs without Ray's token (each process would need it)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start_node(["--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                        "--disable-usage-stats"], env)
    second = None
    try:
        second = _start_node([f"--address={address}", "--num-cpus=1"], env)
        run_dir = str(tmp_path / "run")
        args = [sys.executable, "-m", "engine.cli", "train", "tictactoe", "--run-dir", run_dir, "--ray", address,
                *SMALL, "ray_workers=2", "iterations=12"]
        driver = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        lines = _wait_for(run_dir, lambda m: len(m) >= 2, driver)
        assert lines[-1]["ray_nodes"] == 2  # one actor on each node (SPREAD)
        os.killpg(second.pid, signal.SIGKILL)  # the second node goes away, its actor with it
        second.wait()
        removed_at = lines[-1]["iteration"]
        lines = _wait_for(run_dir, lambda m: m[-1]["iteration"] >= removed_at + 3, driver)
        assert lines[-1]["ray_nodes"] == 1  # its actor restarted on the head
        os.killpg(driver.pid, signal.SIGKILL)  # the driver dies in the middle of a run
        driver.wait()
        resumed = subprocess.run([*args[:9], "--resume"], env=env, capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert [m["iteration"] for m in _metrics(run_dir)] == list(range(1, 13))  # no gap, no duplicate
    finally:
        for proc in (second, head):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM if proc is head else signal.SIGKILL)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


def test_ray_bench_divides_by_the_threaded_row_with_as_many_groups(monkeypatch):
    """Each Ray row's ratio is against threads at the same number of groups (same settings and
    seeds otherwise), and the learner estimate is one actor's self-play time over training time."""
    from benchmarks import ray_bench

    def row(game, groups, seconds, ray_address):
        rate = 100.0 * groups + (7.0 if ray_address else 0.0)
        return {"positions_per_second": rate, "send_seconds": 0.1, "receive_seconds": 0.0, "idle_share": 0.7,
                "selfplay_seconds": 9.0 / groups, "train_seconds": 3.0, "iterations": 2}

    monkeypatch.setattr(ray_bench, "_row", row)
    monkeypatch.setattr(ray_bench, "_groups", lambda: [1, 2])
    monkeypatch.setattr("training.ray_selfplay.connect", lambda address: False)
    (result,) = ray_bench.main(names=["tictactoe"], seconds=0)
    assert [(r["path"], r["groups"]) for r in result["rows"]] == [("threads", 1), ("threads", 2), ("ray", 1), ("ray", 2)]
    assert [r["ratio"] for r in result["rows"]] == [None, None, 107 / 100, 207 / 200]
    assert result["actors_per_learner"] == pytest.approx(3.0)
