"""`move37 train GAME`: the AlphaZero loop, with a run directory that can be followed, stopped
and resumed.

Each iteration: self-play (many games in lockstep through one batched search) -> replay window
-> optimisation (sample reuse keeps self-play and learning balanced) -> evaluation against
fixed references -> checkpoint (atomic) -> metrics.jsonl line and TensorBoard events.

Run directory:
    config.toml        the resolved settings
    checkpoints/       step_NNNNNNN.pt, latest.pt, best.pt
    tensorboard/       event files
    metrics.jsonl      one JSON object per iteration
    elo.json           evaluation results with intervals, per iteration
    replay/            one chunk of positions per iteration, pruned to the window (for resume)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time

import numpy as np
import torch

import games
import mcts
from engine.nets import checkpoint
from engine.nets.inference import INT8_CALIBRATION_POSITIONS, NetworkEvaluator, autocast, check_precision, resolve_device
from engine.nets.network import GraphSlot, NetworkConfig, PolicyValueNet, default_config
from engine.play.arena import play_match_lockstep
from engine.play.base import PlayerSpecError
from engine.play.specs import make_player, network_search_settings
from games.random_play import random_game_observations
from training.config import TrainConfig
from training.losses import learning_rate, losses
from training.replay import ReplayBuffer
from training.selfplay import ThreadedSelfPlay, selfplay_threads


# metrics.jsonl name -> key of training.losses.losses()
LOGGED_LOSSES = {"policy_loss": "policy", "value_loss": "value", "policy_entropy": "entropy",
                 "ownership_loss": "ownership"}


class RunError(ValueError):
    """A run that cannot start or continue, said in one sentence."""


class RunLock:
    """An exclusive lock on the run directory, so two trainers never write the same run."""

    def __init__(self, run_dir: str):
        import fcntl

        self.path = os.path.join(run_dir, ".lock")
        self.file = open(self.path, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            raise RunError(f"run directory {run_dir} is in use by another training process.") from None

    def release(self) -> None:
        self.file.close()


def _network(game, config: TrainConfig) -> NetworkConfig:
    net = NetworkConfig.preset(config.network) if config.network else default_config(game)
    return dataclasses.replace(net, ownership=hasattr(game, "ownership") and config.ownership_weight > 0)


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str, resume: bool = False, out=None,
                 ray: str | None = None):
        """`ray`: a Ray cluster's address, or `local`, to play self-play on Ray actors
        (training/ray_selfplay.py); None plays it in this process's threads."""
        self.config = config
        self.run_dir = run_dir
        self.out = sys.stderr if out is None else out
        try:
            self.game = games.make(config.game)
        except ValueError as e:
            raise RunError(str(e)) from None
        try:
            self.device = resolve_device(config.device)
            check_precision(config.precision, self.device)
            # running games are not saved in checkpoints
            self.selfplay = ThreadedSelfPlay(self.game, config, config.continuous,
                                             selfplay_threads(config, self.device))
        except ValueError as e:
            raise RunError(str(e)) from None
        self.paths = {name: os.path.join(run_dir, name) for name in
                      ("config.toml", "checkpoints", "tensorboard", "metrics.jsonl", "elo.json", "replay")}
        latest = os.path.join(self.paths["checkpoints"], "latest.pt")
        if os.path.exists(latest) and not resume:
            raise RunError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another "
                           f"--run-dir.")
        if resume and not os.path.exists(latest):
            raise RunError(f"there is no run to resume in {run_dir}.")
        for d in ("checkpoints", "tensorboard", "replay"):
            os.makedirs(self.paths[d], exist_ok=True)
        self.lock = RunLock(run_dir)
        self.rng = np.random.default_rng(config.seed)
        self.graph = GraphSlot()  # one traced graph for every iteration's evaluator (memory stays flat)
        torch.manual_seed(config.seed)
        self.net_config = _network(self.game, config)
        self._build_model()
        self.replay = ReplayBuffer(config.replay_window, self.game.observation_shape, self.game.num_actions,
                                   self.net_config.ownership)
        self.step = 0
        self.iteration = 0
        self.elapsed = 0.0  # seconds of training over all sessions of this run
        self.best_score = -1.0
        self.elo_history: list[dict] = []
        if resume:
            self._resume(latest)
        else:
            with open(self.paths["config.toml"], "w") as f:
                f.write(config.to_toml())
        self.session_start = time.perf_counter()  # the time budget counts wall time, saving included
        self.elapsed_before = self.elapsed
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(self.paths["tensorboard"], purge_step=self.iteration + 1)
        if ray:  # last, once the run directory is known to be usable: actors take a while to start
            from training.ray_selfplay import RayError, RaySelfPlay

            try:
                self.selfplay = RaySelfPlay(config, config.continuous, ray)
            except RayError as e:
                self.close()
                raise RunError(str(e)) from None
            except BaseException:
                self.close()
                raise

    def _build_model(self) -> None:
        cfg = self.config
        self.net = PolicyValueNet(self.game.observation_shape, self.game.num_actions, self.net_config).to(
            self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=cfg.learning_rate, momentum=cfg.momentum,
                                         nesterov=True, weight_decay=cfg.weight_decay)

    # ---- persistence ---------------------------------------------------------------------
    def _meta(self) -> dict:
        g = self.game
        return {"game": g.name, "spec": self.config.game, "network": self.net_config.to_dict(),
                "observation_shape": list(g.observation_shape), "num_actions": g.num_actions}

    def _save(self, metrics: dict) -> dict:
        payload = {
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
            "iteration": self.iteration, "elapsed": self.elapsed, "best_score": self.best_score,
            "metrics": metrics, "meta": self._meta(), "torch_rng": torch.get_rng_state(),
            "numpy_rng": json.dumps(self.rng.bit_generator.state),
        }
        path = os.path.join(self.paths["checkpoints"], f"step_{self.step:07d}.pt")
        checkpoint.save(path, payload)
        checkpoint.save(os.path.join(self.paths["checkpoints"], "latest.pt"), payload)
        return payload

    def _resume(self, latest: str) -> None:
        try:
            data = checkpoint.load(latest, self.game.name)
        except checkpoint.CheckpointError as e:
            raise RunError(str(e)) from None
        if data["meta"]["network"] != self.net_config.to_dict():  # the run's own size wins
            self.net_config = NetworkConfig(**data["meta"]["network"])
            self._build_model()
            self.replay = ReplayBuffer(self.config.replay_window, self.game.observation_shape,
                                       self.game.num_actions, self.net_config.ownership)
        self.net.load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.step, self.iteration = int(data["step"]), int(data["iteration"])
        self.elapsed, self.best_score = float(data["elapsed"]), float(data["best_score"])
        torch.set_rng_state(data["torch_rng"])
        self.rng.bit_generator.state = json.loads(data["numpy_rng"])
        self.replay.load_chunks(self.paths["replay"], self.iteration)
        self._repair_logs(data["metrics"])

    def _repair_logs(self, last: dict) -> None:
        """Keep exactly one metrics line per iteration up to the checkpoint's: drop lines of an
        iteration that was cut off, add the checkpoint's line if the kill came before it."""
        lines = []
        if os.path.exists(self.paths["metrics.jsonl"]):
            with open(self.paths["metrics.jsonl"]) as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut off by the kill
                    if record.get("iteration", 0) <= self.iteration:
                        lines.append(record)
        if not lines or lines[-1]["iteration"] < self.iteration:
            lines.append(last)
        tmp = self.paths["metrics.jsonl"] + ".tmp"
        with open(tmp, "w") as f:
            for record in lines:
                f.write(json.dumps(record) + "\n")
        os.replace(tmp, self.paths["metrics.jsonl"])
        if os.path.exists(self.paths["elo.json"]):
            with open(self.paths["elo.json"]) as f:
                self.elo_history = [e for e in json.load(f) if e["iteration"] <= self.iteration]

    # ---- one iteration -------------------------------------------------------------------
    def _train(self, new_positions: int, progress: float) -> dict:
        cfg = self.config
        # no recorded position yet (every search so far a cheap one): nothing to learn from
        steps = max(1, int(round(new_positions * cfg.sample_reuse / cfg.batch_size))) if self.replay.size else 0
        lr = learning_rate(cfg.learning_rate, progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        totals = {"policy_loss": 0.0, "value_loss": 0.0, "policy_entropy": 0.0}
        if self.net_config.ownership:
            totals["ownership_loss"] = 0.0
        symmetries = self.game.symmetries
        for _ in range(steps):
            obs, pi, z, owner = self.replay.sample(cfg.batch_size, self.rng, symmetries)
            obs_t = torch.from_numpy(obs).to(self.device).contiguous(memory_format=torch.channels_last)
            with autocast(self.device, cfg.precision, cfg.batch_size):
                logits, v, owner_logits = self.net.forward_train(obs_t)
            owner_t = torch.from_numpy(owner).to(self.device) if owner_logits is not None else None
            loss = losses(logits, v, owner_logits, torch.from_numpy(pi).to(self.device),
                          torch.from_numpy(z).to(self.device), owner_t, cfg.ownership_weight)
            self.optimizer.zero_grad(set_to_none=True)
            loss["total"].backward()
            self.optimizer.step()
            self.step += 1
            for key in totals:
                totals[key] += loss[LOGGED_LOSSES[key]].item()
        self.net.eval()
        out = {k: v / max(steps, 1) for k, v in totals.items()}
        out.update(train_steps=steps, learning_rate=lr)
        return out

    def _evaluator(self) -> NetworkEvaluator:
        """The current network as an evaluator; an int8 one calibrates on positions from the
        replay window (the first iteration's, with the window empty, on random games)."""
        calibration = None
        if self.config.precision == "int8" and self.replay.size:
            rows = np.random.default_rng(self.iteration).integers(0, self.replay.size, INT8_CALIBRATION_POSITIONS)
            calibration = self.replay.obs[rows]
        elif self.config.precision == "int8":
            calibration = random_game_observations(self.game, INT8_CALIBRATION_POSITIONS)
        return NetworkEvaluator(self.net, str(self.device), precision=self.config.precision, calibration=calibration,
                                graph=self.graph)

    def _evaluate(self) -> dict:
        cfg = self.config
        search = mcts.SearchConfig(**{**network_search_settings(cfg.eval_simulations), "win_check": cfg.search.win_check})
        evaluator = self._evaluator()
        results = {}
        for spec in [s.strip() for s in cfg.eval_opponents.split(",") if s.strip()]:
            if spec == "best":  # the best earlier checkpoint, searched like the agent
                best = os.path.join(self.paths["checkpoints"], "best.pt")
                if not os.path.exists(best):
                    continue
                player_spec = f"{best}:{cfg.eval_simulations}"
            else:
                player_spec = spec
            try:
                probe = make_player(player_spec, self.game, seed=0)  # one clear sentence for a bad spec
                getattr(probe, "close", lambda: None)()
            except PlayerSpecError as e:
                print(f"\nmove37: skipping evaluation against {spec}: {e}", file=self.out)
                continue
            opponents = []

            def opponent(i: int, spec=player_spec):
                opponents.append(make_player(spec, self.game, seed=self.iteration * 1000 + i))
                return opponents[-1]

            try:
                r = play_match_lockstep(self.game, evaluator, search, f"iteration {self.iteration}", opponent,
                                        cfg.eval_games, 2, seed=self.iteration)
            finally:
                for o in opponents:
                    getattr(o, "close", lambda: None)()
            elo, lo, hi = r.elo()
            results[spec] = {"score": r.score, "wins": r.wins, "draws": r.draws, "losses": r.losses,
                             "elo": _finite(elo), "elo_low": _finite(lo), "elo_high": _finite(hi)}
        return results

    def _evaluation_due(self) -> bool:
        """Every eval_every iterations, or with eval_minutes set, once that much training time
        has passed since the last evaluation (and always at the end of the run)."""
        cfg = self.config
        if cfg.eval_games <= 0:
            return False
        if self.done():
            return True
        if cfg.eval_minutes > 0:
            last = self.elo_history[-1]["elapsed_minutes"] if self.elo_history else 0.0
            now = self._elapsed_seconds() / 60
            return now - last >= cfg.eval_minutes
        return self.iteration % max(cfg.eval_every, 1) == 0

    def iterate(self) -> dict:
        t0 = time.perf_counter()
        evaluator = self._evaluator()
        batch = self.selfplay.play(evaluator, self.rng)
        t_selfplay = time.perf_counter() - t0
        owners = batch.owners if self.net_config.ownership else None
        self.replay.add(batch.observations, batch.policies, batch.values, owners)
        # the iteration's positions go to disk before its checkpoint, so resume finds them
        self.replay.save_chunk(self.paths["replay"], self.iteration + 1, batch.observations, batch.policies,
                               batch.values, owners)
        progress = self._progress()
        t1 = time.perf_counter()
        losses = self._train(len(batch.values), progress)
        t_train = time.perf_counter() - t1
        self.iteration += 1
        t2 = time.perf_counter()
        self.elapsed = self._elapsed_seconds()  # what done() reads, here and in run()'s loop
        evaluation = self._evaluate() if self._evaluation_due() else {}
        t_eval = time.perf_counter() - t2
        if evaluation:
            self.elapsed = self._elapsed_seconds()
        fixed = {k: v for k, v in evaluation.items() if k != "best"}  # best.pt follows the fixed references
        rss = resident_mb()
        score = float(np.mean([e["score"] for e in fixed.values()])) if fixed else None
        metrics = {
            "iteration": self.iteration, "step": self.step, "elapsed_minutes": self.elapsed / 60,
            "games": batch.games, "positions": int(len(batch.values)), "moves": batch.moves,
            "replay_size": self.replay.size, "rss_mb": rss, "peak_rss_mb": max(peak_resident_mb(), rss),
            "games_per_second": batch.games / t_selfplay,
            # shares of each self-play thread's time, averaged over the threads
            "positions_per_second": batch.moves / t_selfplay,
            "search_share": batch.search_seconds / (t_selfplay * batch.threads),
            "inference_share": evaluator.seconds / (t_selfplay * batch.threads),
            "network_positions": evaluator.positions, "network_batch": evaluator.mean_batch,
            "selfplay_seconds": t_selfplay, "train_seconds": t_train,
            "eval_seconds": t_eval, "eval_score": score, "resigned_games": batch.resigned,
            "false_resignation_rate": batch.false_resignations / max(batch.would_resign, 1),
            # self-play on Ray: games dropped with lost workers, and the transfers' cost
            "ray_nodes": batch.nodes, "lost_games": batch.lost_games, "lost_tasks": batch.lost_tasks,
            "send_seconds": batch.send_seconds, "receive_seconds": batch.receive_seconds,
            "first_player_score": batch.first_player_score, **losses,
            **{f"score_vs_{k}": v["score"] for k, v in evaluation.items()},
            **{f"elo_vs_{k}": v["elo"] for k, v in evaluation.items()},
        }
        if evaluation:
            self.elo_history.append({"iteration": self.iteration, "elapsed_minutes": metrics["elapsed_minutes"],
                                     "results": evaluation})
        improved = score is not None and score_upper_bound(fixed) >= self.best_score
        if improved:
            self.best_score = max(self.best_score, score)
        payload = self._save(metrics)
        self.replay.prune(self.paths["replay"])
        if improved:  # best.pt: the newest checkpoint not measurably worse than the best score so far
            checkpoint.save(os.path.join(self.paths["checkpoints"], "best.pt"), payload)
        with open(self.paths["metrics.jsonl"], "a") as f:
            f.write(json.dumps(metrics) + "\n")
        with open(self.paths["elo.json"] + ".tmp", "w") as f:
            json.dump(self.elo_history, f, indent=1)
        os.replace(self.paths["elo.json"] + ".tmp", self.paths["elo.json"])
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "iteration":
                self.writer.add_scalar(key.replace("_vs_", "/vs_"), value, self.iteration)
        self.writer.flush()
        return metrics

    def _elapsed_seconds(self) -> float:
        """Training time of the whole run: earlier sessions plus this one so far."""
        return self.elapsed_before + time.perf_counter() - self.session_start

    def _progress(self, seconds: float | None = None) -> float:
        """Share of the run's budget spent, after `seconds` of training (default: now)."""
        cfg = self.config
        parts = []
        if cfg.minutes > 0:
            parts.append((self._elapsed_seconds() if seconds is None else seconds) / (cfg.minutes * 60))
        if cfg.iterations > 0:
            parts.append(self.iteration / cfg.iterations)
        return max(parts) if parts else 0.0

    def done(self) -> bool:
        """Whether the budget was spent when the last iteration decided on its evaluation, so
        the iteration that ends the run is always one that evaluated."""
        return self._progress(self.elapsed) >= 1.0

    def run(self) -> dict | None:
        metrics = None
        try:
            while not self.done():
                metrics = self.iterate()
                self._show(metrics)
        finally:
            print(file=self.out)
            self.close()
        return metrics

    def close(self) -> None:
        """Release what the run holds: Ray actors, the TensorBoard writer, the run lock."""
        getattr(self.selfplay, "close", lambda: None)()
        self.writer.close()
        self.lock.release()

    def _show(self, m: dict) -> None:
        evals = " ".join(f"{k[len('score_vs_'):]} {v:.0%}" for k, v in m.items() if k.startswith("score_vs_"))
        if evals:
            self.last_evals = evals
        evals = getattr(self, "last_evals", "")
        print(f"\riteration {m['iteration']}  {m['elapsed_minutes']:.1f} min  games {m['games']}  "
              f"{m['positions_per_second']:.0f} pos/s  loss {m['policy_loss']:.2f}/{m['value_loss']:.2f}  "
              f"score: {evals}   ", end="", file=self.out, flush=True)


def score_upper_bound(results: dict) -> float:
    """Upper end of the 95% interval of the mean score over the references. A checkpoint whose
    interval reaches the best score so far is not measurably worse, and the newer network wins:
    with saturated references (every game drawn against minimax) a strict maximum would pin
    best.pt to the first lucky iteration."""
    scores = [r["score"] for r in results.values()]
    variance = sum(max(s * (1 - s), 0.01) / max(r["wins"] + r["draws"] + r["losses"], 1)
                   for s, r in zip(scores, results.values())) / len(scores) ** 2
    return float(np.mean(scores)) + 1.96 * math.sqrt(variance)


def resident_mb() -> float:
    """This process's resident memory now, in MiB (Linux; 0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_resident_mb() -> float:
    """This process's peak resident memory so far, in MiB (ru_maxrss is KiB on Linux, bytes on
    macOS); the kernel updates it lazily, so it can trail a fresh resident_mb() by a little."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _finite(x: float):
    return None if (x is None or math.isinf(x)) else round(x, 1)
