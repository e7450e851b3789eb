"""`move37 train TASK` for reasoning tasks: expert iteration. Generate many solutions, keep the
right and short ones, train on them, repeat.

One iteration:
1. the next `problems_per_iteration` training problems of a seeded stream whose position is
   saved with the checkpoint (a restart neither skips nor repeats problems);
2. `samples` solutions for each, sampled at temperature 1 (or found by the reasoning search,
   `generator=gumbel:TOKENS`), many problems in lockstep;
3. each checked; per problem the selection rule keeps `right_short` (the shortest right
   solution, ties to the higher log-probability; the default), `right` (every distinct right
   one) or `all` (wrong ones too: the negative control); a problem with no right solution
   gives nothing; and, where the task can relabel (Countdown) and `hindsight` asks, more: a
   generated chain is right for the targets it reached on the way, so a problem solved by
   none of its samples still teaches which steps reach which numbers (Hindsight Experience
   Replay, Andrychowicz et al. 2017; only training-split targets);
4. `steps_per_iteration` optimizer steps on the kept solutions of the last `replay_iterations`
   iterations (loss on the solution's tokens only, not on what the rules compute, and no end
   token: the rules end a solution);
5. the value head (engine/llm/value.py, a linear probe on the last hidden state) learns each
   generated solution's checked outcome (+1 right, -1 wrong) at every step boundary, from the
   same window; the search then reads its leaf values from it;
6. greedy on the fixed held-out evaluation problems; every `eval_every` iterations also
   `vote:8` and the search at `eval_budget` tokens.

Run directory:
    checkpoints/iter-NNNNNN/   a Hugging Face model directory per iteration, with its value_head.safetensors
                               (the last 3 and the best kept)
    latest, best               symbolic links to checkpoint directories, swapped atomically
    model                      a link to the best checkpoint: `--policy builtin:RUN_DIR` loads it
    state.pt                   optimizer, random states, stream position, replay window, metrics line
    metrics.jsonl, tensorboard/, config.json
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from engine.llm.hfdir import save
from engine.llm.local import LocalPolicy
from engine.llm.solve import solve
from engine.llm.value import ValueHead, save_value_head
from games.math.countdown import Countdown
from games.math.task import Problem, Task
from mcts.rollout import rollouts
from mcts.settings import setting
from training.checkpoints import commit, trim_jsonl
from training.grpo import RULES_TEXT, Sample, grpo_steps
from training.pretrain import RULES_WRITE, lm_batch, lm_step, rules_labels
from training.run import RunError, RunLock

RULES = ("right_short", "right", "all")
KEEP_CHECKPOINTS = 3


LEARNING_RATES = {"expert": 3e-4, "grpo": 5e-5}  # each learner's default (learning_rate=0)


@dataclass
class ExpertConfig:
    minutes: float = setting(60.0, "training time: the run stops after the iteration that passes it")
    iterations: int = setting(0, "or a fixed number of iterations (0: as many as the minutes allow)")
    problems_per_iteration: int = setting(128, "training problems a iteration generates solutions for")
    samples: int = setting(16, "solutions generated per problem")
    generator: str = setting("sample", "sample (temperature-1 samples) or a search method, gumbel:TOKENS or "
                                       "mcts:TOKENS (its solution per problem)")
    learner: str = setting("expert", "expert (fine-tune on the kept solutions) or grpo (a policy-gradient step on "
                                     "every sample, weighted by its reward's standing in its group; training/grpo.py)")
    select: str = setting("right_short", "right_short (the shortest right solution per problem), right (every "
                                         "distinct right one) or all (wrong ones too: the control)")
    learning_rate: float = setting(0.0, "AdamW learning rate; 0: the learner's own, 3e-4 for expert and 5e-5 for "
                                        "grpo (at 3e-4 GRPO collapses within minutes; docs/LLM.md)")
    batch_size: int = setting(32, "solutions per optimizer step")
    steps_per_iteration: int = setting(4, "optimizer steps per iteration on the replay window (more: each kept "
                                          "solution is seen more often and sampling loses its variety)")
    replay_iterations: int = setting(8, "kept solutions of this many recent iterations are trained on")
    hindsight: int = setting(0, "relabelled solutions kept per problem where the task can relabel (Countdown: a "
                                "chain that missed its target is right for a target it did reach); 0: off")
    result_loss: float = setting(0.0, "weight of an auxiliary loss on the results the rules wrote into the kept "
                                      "solutions (Countdown's `=20`), which the main loss leaves out; 0: off")
    eval_problems: int = setting(1000, "fixed held-out problems, solved greedily after every iteration")
    eval_every: int = setting(50, "iterations between the costlier evaluations (vote:8 and the search), which "
                                  "take as long as several iterations")
    eval_budget: int = setting(512, "the search's token budget in those evaluations")
    seed: int = setting(0, "seed of the problem stream, the samples and the optimizer")

    def __post_init__(self):
        if self.select not in RULES:
            raise ValueError(f"select must be one of {', '.join(RULES)}, not {self.select!r}.")
        if self.learner not in ("expert", "grpo"):
            raise ValueError(f"learner must be expert or grpo, not {self.learner!r}.")
        if self.learner == "grpo" and self.generator != "sample":
            raise ValueError("learner=grpo learns from samples (generator=sample): its groups need several per problem.")
        if self.generator != "sample" and not self.generator.startswith(("gumbel:", "mcts:")):
            raise ValueError(f"generator must be sample, gumbel:TOKENS or mcts:TOKENS, not {self.generator!r}.")
        if min(self.problems_per_iteration, self.samples, self.batch_size, self.steps_per_iteration,
               self.replay_iterations, self.eval_problems, self.eval_every) < 1 or self.minutes <= 0:
            raise ValueError("counts must be at least 1 and minutes above 0.")
        if self.learning_rate < 0:
            raise ValueError("learning_rate must be above 0, or 0 for the learner's own.")
        if not self.learning_rate:
            self.learning_rate = LEARNING_RATES[self.learner]
        if self.hindsight < 0 or self.result_loss < 0:
            raise ValueError("hindsight and result_loss must be 0 (off) or more.")


@dataclass(frozen=True)
class Candidate:
    text: str
    correct: bool
    tokens: int
    logprob: float
    refused: str = ""  # the model's last step, when the rules refused it (not part of `text`)
    stopped: bool = False  # the model ended the solution with end-of-text


def select(candidates: list[Candidate], rule: str) -> list[Candidate]:
    """The solutions a problem contributes under `rule` (see the module docstring)."""
    distinct = list({c.text: c for c in candidates if c.text}.values())
    right = [c for c in distinct if c.correct]
    if not right:
        return []
    if rule == "right_short":
        return [min(right, key=lambda c: (c.tokens, -c.logprob))]
    return right if rule == "right" else distinct


def relabel(task: Task, problems: list[Problem], cands: list[list[Candidate]], per_problem: int,
            rng: np.random.Generator) -> list[tuple[str, str]]:
    """Up to `per_problem` hindsight solutions per problem, (prompt, solution) pairs: each a
    distinct target some generated chain reached on the way (not the problem's own), chosen at
    random, at the shortest prefix any chain reached it with."""
    if not per_problem or not hasattr(task, "hindsight"):
        return []
    out = []
    for p, cs in zip(problems, cands):
        best: dict[str, str] = {}
        for c in cs:
            for q, prefix in task.hindsight(p, c.text):
                if q.target != p.target and (q.prompt not in best or len(prefix) < len(best[q.prompt])):
                    best[q.prompt] = prefix
        keys = sorted(best)
        for i in rng.permutation(len(keys))[:per_problem]:
            out.append((keys[i], best[keys[i]]))
    return out


def grpo_groups(task: Task, problems: list[Problem], cands: list[list[Candidate]]) -> list[list[Sample]]:
    """GRPO's groups, one per problem: each sample scored by the task's reward on its solution,
    with the model's last choice put back for the gradient (a refused step, a stop)."""
    return [[Sample(p.prompt, c.text + c.refused, task.reward(p, c.text), c.stopped) for c in cs]
            for p, cs in zip(problems, cands)]


def problem_batch(task: Task, seed: int, position: int, n: int) -> list[Problem]:
    """Batch `position` of the training stream: generated tasks draw it from a seed of its own;
    a file's rows come in a seeded permutation, reshuffled each pass."""
    if getattr(task, "rows", None) is None:
        return task.problems("train", n, seed * 1_000_003 + position)
    pool = task.problems("train")
    out = []
    for k in range(position * n, (position + 1) * n):
        order = np.random.default_rng([seed, k // len(pool)]).permutation(len(pool))
        out.append(pool[int(order[k % len(pool)])])
    return out


class ExpertIteration:
    def __init__(self, task: Task, run_dir: str, init_dir: str, config: ExpertConfig, resume: bool = False,
                 device: str = "auto", out=None):
        from torch.utils.tensorboard import SummaryWriter

        # sys.stderr read now, not bound as a default at import (a stream replaced since may be closed)
        self.task, self.run_dir, self.config = task, run_dir, config
        self.out = sys.stderr if out is None else out
        self.paths = {k: os.path.join(run_dir, k) for k in ("state.pt", "metrics.jsonl", "tensorboard", "checkpoints")}
        if os.path.exists(self.paths["state.pt"]) and not resume:
            raise RunError(f"{run_dir} already holds a training run; pass --resume to continue it.")
        os.makedirs(self.paths["checkpoints"], exist_ok=True)
        self.lock = RunLock(run_dir)
        self.iteration, self.position, self.elapsed, self.best = 0, 0, 0.0, -1.0
        self.replay: list[list[tuple[str, str]]] = []
        self.value_replay: list[list[tuple[str, float]]] = []  # (prompt + solution so far, checked outcome)
        start = self._latest() if resume and os.path.exists(self.paths["state.pt"]) else init_dir
        self.policy = LocalPolicy(start, name="training", device=device)
        self.model, self.tokenizer = self.policy.model.float(), self.policy.tokenizer
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=0.0)
        self.value_head = self.policy.value_head or ValueHead(self.model.config.hidden_size).to(self.policy.device)
        self.head_optimizer = torch.optim.AdamW(self.value_head.parameters(), lr=1e-3, weight_decay=0.0)
        self.rules_write = RULES_WRITE if isinstance(task, Countdown) else None
        self.eval_set = task.problems("heldout", config.eval_problems, 0) if getattr(task, "rows", None) is None \
            else task.problems("heldout")[:config.eval_problems]
        torch.manual_seed(config.seed)
        if start != init_dir:
            self._resume()
        else:
            with open(os.path.join(run_dir, "config.json"), "w") as f:
                json.dump(dict(asdict(config), task=task.name, init=os.path.abspath(init_dir)), f, indent=1)
        self.writer = SummaryWriter(self.paths["tensorboard"], purge_step=self.iteration + 1)

    # ---- checkpoints --------------------------------------------------------------------------
    def _latest(self) -> str:
        return os.path.realpath(os.path.join(self.run_dir, "latest"))

    def _checkpoint(self, metrics: dict) -> None:
        path = os.path.join(self.paths["checkpoints"], f"iter-{self.iteration:06d}")
        if os.path.isdir(path):
            shutil.rmtree(path)  # left by a run killed before its state was saved
        save(self.model, self.tokenizer, path)
        save_value_head(self.value_head, path)
        improved = metrics["greedy_solve_rate"] > self.best
        if improved:
            self.best = metrics["greedy_solve_rate"]
        state = {"optimizer": self.optimizer.state_dict(), "iteration": self.iteration, "position": self.position,
                 "elapsed": self.elapsed, "best": self.best, "replay": self.replay, "metrics": metrics,
                 "value_replay": self.value_replay, "head_optimizer": self.head_optimizer.state_dict(),
                 "torch_rng": torch.get_rng_state()}
        commit(self.run_dir, path, state, self.paths["state.pt"], improved, KEEP_CHECKPOINTS)

    def _resume(self) -> None:
        state = torch.load(self.paths["state.pt"], weights_only=False)
        self.iteration, self.position, self.elapsed = state["iteration"], state["position"], state["elapsed"]
        self.best, self.replay, self.value_replay = state["best"], state["replay"], state["value_replay"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.head_optimizer.load_state_dict(state["head_optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if os.path.realpath(os.path.join(self.paths["checkpoints"], f"iter-{self.iteration:06d}")) != self._latest():
            raise RunError(f"{self.run_dir}: the saved state and the latest checkpoint disagree.")
        trim_jsonl(self.paths["metrics.jsonl"], "iteration", self.iteration, state["metrics"])

    # ---- one iteration ------------------------------------------------------------------------
    def generate(self, problems: list[Problem]) -> tuple[list[list[Candidate]], int]:
        cfg = self.config
        seed = cfg.seed * 1_000_003 + self.iteration
        self.model.eval()
        if cfg.generator == "sample":
            outs = rollouts(self.task, problems, self.policy, cfg.samples, 1.0, seed)
            cands = [[Candidate(r.text, self.task.check_answer(p, r.answer), r.tokens, r.logprob, r.rejected or "",
                                r.stopped) for r in rs] for p, rs in zip(problems, outs)]
            return cands, sum(r.tokens for rs in outs for r in rs)
        results = solve(self.task, problems, self.policy, cfg.generator, seed)
        cands = [[Candidate(r.solution, r.correct, max(1, len(self.policy.encode(r.solution))), 0.0)] for r in results]
        return cands, sum(r.tokens for r in results)

    def train_steps(self) -> float:
        cfg = self.config
        pool = [pair for kept in self.replay[-cfg.replay_iterations:] for pair in kept]
        if not pool:
            return float("nan")
        rng = np.random.default_rng([cfg.seed, self.iteration, 7])
        self.model.train()
        losses = []
        for _ in range(cfg.steps_per_iteration):
            pick = rng.choice(len(pool), size=min(cfg.batch_size, len(pool)), replace=False)
            # no EOS: a kept solution ends where the rules end it (the target reached, an answer
            # line), so the model never has to choose to stop; learning EOS after short solutions
            # taught it to stop after one step, and the share of problems solved fell each iteration
            pairs = [pool[i] for i in pick]
            batch = lm_batch(self.tokenizer, pairs, self.rules_write, eos=False)
            results = rules_labels(self.tokenizer, pairs, self.rules_write) if cfg.result_loss else None
            losses.append(lm_step(self.model, self.optimizer, batch, self.policy.device, results, cfg.result_loss))
        self.model.eval()
        return float(np.mean(losses))

    def train_value(self) -> float:
        """The value head's steps on the window's (prefix, outcome) pairs; the model is only read."""
        cfg = self.config
        pool = [pair for kept in self.value_replay[-cfg.replay_iterations:] for pair in kept]
        if not pool:
            return float("nan")
        rng = np.random.default_rng([cfg.seed, self.iteration, 11])
        self.model.eval()
        losses = []
        for _ in range(cfg.steps_per_iteration):
            pick = rng.choice(len(pool), size=min(2 * cfg.batch_size, len(pool)), replace=False)
            with torch.no_grad():
                hidden = self.policy.last_hidden([pool[i][0] for i in pick])
            target = torch.tensor([pool[i][1] for i in pick], dtype=torch.float32, device=hidden.device)
            loss = torch.nn.functional.mse_loss(self.value_head(hidden), target)
            self.head_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.head_optimizer.step()
            losses.append(float(loss.detach()))
        self.policy.value_head = self.value_head.eval()  # trained: the search reads it from now on
        return float(np.mean(losses))

    def evaluate(self, full: bool) -> dict:
        self.model.eval()
        greedy = solve(self.task, self.eval_set, self.policy, "greedy", 0)
        right = [r for r in greedy if r.correct]
        out = {"greedy_solve_rate": len(right) / len(greedy),
               "right_solution_tokens": float(np.mean([r.tokens for r in right])) if right else float("nan")}
        if full:
            out["vote8_solve_rate"] = float(np.mean([r.correct for r in solve(self.task, self.eval_set, self.policy,
                                                                                "vote:8", 0)]))
            out["search_solve_rate"] = float(np.mean([r.correct for r in solve(
                self.task, self.eval_set, self.policy, f"gumbel:{self.config.eval_budget}", 0)]))
        return out

    def run(self) -> dict:
        cfg = self.config
        last: dict = {}
        try:
            while (self.iteration < cfg.iterations) if cfg.iterations else (self.elapsed < cfg.minutes * 60):
                t0 = time.perf_counter()
                problems = problem_batch(self.task, cfg.seed, self.position, cfg.problems_per_iteration)
                cands, generated = self.generate(problems)
                kept = [(p.prompt, c.text) for p, cs in zip(problems, cands) for c in select(cs, cfg.select)]
                relabelled = relabel(self.task, problems, cands, cfg.hindsight if cfg.learner == "expert" else 0,
                                     np.random.default_rng([cfg.seed, self.iteration, 13]))
                self.replay = (self.replay + [kept + relabelled])[-cfg.replay_iterations:]
                outcomes = [(p.prompt + "".join(c.text.splitlines(keepends=True)[:k]), 1.0 if c.correct else -1.0)
                            for p, cs in zip(problems, cands) for c in cs
                            for k in range(len(c.text.splitlines()) + (not c.text))]
                self.value_replay = (self.value_replay + [outcomes])[-cfg.replay_iterations:]
                if cfg.learner == "grpo":
                    loss = grpo_steps(self.model, self.tokenizer, self.optimizer, grpo_groups(self.task, problems, cands),
                                      cfg.batch_size,
                                      RULES_TEXT if isinstance(self.task, Countdown) else None, self.policy.device)
                else:
                    loss = self.train_steps()
                value_loss = self.train_value()
                self.iteration += 1
                self.position += 1
                metrics = {"iteration": self.iteration, "first_problem": problems[0].id, "loss": loss,
                           "value_loss": value_loss, "kept": len(kept), "hindsight": len(relabelled),
                           "solved_share": float(np.mean([any(c.correct for c in cs) for cs in cands])),
                           "generated_tokens": generated}
                metrics.update(self.evaluate(self.iteration % cfg.eval_every == 0))
                self.elapsed += time.perf_counter() - t0
                metrics["elapsed_minutes"] = self.elapsed / 60
                metrics = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}
                self._checkpoint(metrics)
                with open(self.paths["metrics.jsonl"], "a") as f:
                    f.write(json.dumps(metrics) + "\n")
                for key, value in metrics.items():
                    if key != "iteration" and isinstance(value, (int, float)):
                        self.writer.add_scalar(key, value, self.iteration)
                self.writer.flush()
                print(f"\riteration {self.iteration}  {self.elapsed / 60:.1f} min  kept {len(kept)}  "
                      f"greedy {metrics['greedy_solve_rate']:.1%}", end="", file=self.out, flush=True)
                last = metrics
        finally:
            print(file=self.out)
            self.writer.close()
            self.lock.release()
        return last
