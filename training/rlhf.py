"""`move37 train reviews --reward DIR`: optimising a policy against a learned reward model,
watched by the over-optimisation guard (training/guard.py).

One step:
1. the next `prompts_per_step` prompts of a seeded stream whose position is saved;
2. `samples` outputs for each, sampled at temperature 1 from the policy;
3. each scored by member 0 of the reward ensemble (the proxy), less `kl_coef` times its
   log-probability ratio to the starting policy (the KL penalty of Ziegler et al. 2019 and
   InstructGPT, in the reward);
4. the learner: `grpo` (each output weighted by its standing in its prompt's group,
   training/grpo.py) or `expert` (expert iteration: the best-scored output of each prompt kept,
   fine-tuned on with a replay window of `replay` steps);
every `eval_every` steps, outputs on fixed evaluation prompts are scored by every member, the
guard records the held-out members' mean, their disagreement and KL, and a checkpoint is written.
The run stops where the guard says (or at the `steps` cap, or passing `stop=false`, never
before the cap: the guard's stop is then only recorded, which is how the over-optimisation
curves are drawn past the peak).

The gold reward never reaches this module: what monitors a run comes in as `monitor`, a
function of (problem, output), and is only logged.

Run directory:
    checkpoints/step-NNNNNN/   Hugging Face model directories (the last 3 and the best kept)
    latest, best, model        symbolic links, swapped atomically; best and model follow the guard
    state.pt                   optimizer, stream position, guard, replay window, metrics line
    metrics.jsonl              a line per step (proxy reward, KL, gold where monitored) and per
                               evaluation (every member's reward, disagreement, the guard)
    samples.jsonl              outputs with their rewards, per step and per evaluation
    stopped.json               where and why the guard stopped
    tensorboard/, config.json
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from engine.llm.hfdir import save
from engine.llm.local import LocalPolicy
from games.math.task import Problem, Task
from games.text.reviews import MAX_CHARS
from training.checkpoints import commit, trim_jsonl
from training.grpo import grpo_steps
from training.guard import Guard, GuardConfig
from training.pretrain import lm_batch, lm_step
from training.reward import RewardEnsemble
from training.run import RunError, RunLock

LEARNERS = ("grpo", "expert")
KEEP_CHECKPOINTS = 3


@dataclass
class RLHFConfig:
    learner: str = field(default="grpo", metadata={"help": "grpo (policy gradient) or expert (keep the best-scored output, fine-tune)"})
    steps: int = field(default=300, metadata={"help": "the step cap (optimisation against a reward model is capped, as in RLHF practice)"})
    prompts_per_step: int = field(default=16, metadata={"help": "prompts per step"})
    samples: int = field(default=8, metadata={"help": "outputs sampled per prompt"})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate"})
    kl_coef: float = field(default=0.01, metadata={"help": "KL penalty in the reward: reward - kl_coef * log(pi / pi_start)"})
    batch_size: int = field(default=64, metadata={"help": "outputs per optimizer step"})
    replay: int = field(default=4, metadata={"help": "expert: steps of kept outputs trained on"})
    eval_every: int = field(default=10, metadata={"help": "steps between evaluations and checkpoints"})
    eval_prompts: int = field(default=32, metadata={"help": "fixed evaluation prompts (held-out places)"})
    eval_samples: int = field(default=4, metadata={"help": "outputs per evaluation prompt"})
    patience: int = field(default=3, metadata={"help": "guard: evaluations without a new best conservative reward before it stops"})
    uncertainty: float = field(default=1.0, metadata={"help": "guard: weight of the members' disagreement in the conservative reward"})
    kl_budget: float = field(default=10.0, metadata={"help": "guard: nats of KL to the starting policy before it stops (a backstop)"})
    disagreement_rise: float = field(default=0.10, metadata={"help": "guard: stop when the reward models' disagreement is this share above its lowest"})
    stop: bool = field(default=True, metadata={"help": "stop where the guard says (false: run to the cap, recording where it would stop)"})
    seed: int = 0

    def __post_init__(self):
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {', '.join(LEARNERS)}, not {self.learner!r}.")
        if min(self.steps, self.prompts_per_step, self.samples, self.batch_size, self.eval_every,
               self.eval_prompts, self.eval_samples, self.patience) < 1:
            raise ValueError("steps, prompts_per_step, samples, batch_size, eval_every, eval_prompts, "
                             "eval_samples and patience must be at least 1.")


def prompt_batch(task: Task, seed: int, position: int, n: int) -> list[Problem]:
    """Batch `position` of an endless seeded stream of training prompts."""
    return task.problems("train", n, seed=seed * 100_003 + position)


class RLHF:
    def __init__(self, task: Task, run_dir: str, init_dir: str, reward_dir: str, config: RLHFConfig,
                 resume: bool = False, monitor: Callable[[Problem, str], float] | None = None,
                 device: str = "auto", out=None):
        from torch.utils.tensorboard import SummaryWriter

        self.task, self.run_dir, self.config, self.monitor = task, run_dir, config, monitor
        self.out = sys.stderr if out is None else out
        self.paths = {k: os.path.join(run_dir, k) for k in ("state.pt", "metrics.jsonl", "samples.jsonl",
                                                             "tensorboard", "checkpoints", "stopped.json")}
        if os.path.exists(self.paths["state.pt"]) and not resume:
            raise RunError(f"{run_dir} already holds a training run; pass --resume to continue it.")
        self.rewards = RewardEnsemble(reward_dir)
        os.makedirs(self.paths["checkpoints"], exist_ok=True)
        self.lock = RunLock(run_dir)
        self.step = 0
        self.guard = Guard(GuardConfig(config.patience, config.uncertainty, config.kl_budget, config.disagreement_rise))
        self.replay: list[list[tuple[str, str]]] = []
        resuming = resume and os.path.exists(self.paths["state.pt"])
        start = os.path.realpath(os.path.join(run_dir, "latest")) if resuming else init_dir
        self.policy = LocalPolicy(start, name="training", device=device)
        self.reference = LocalPolicy(init_dir, name="start", device=device)
        self.model, self.tokenizer = self.policy.model.float(), self.policy.tokenizer
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=0.0)
        self.eval_set = task.problems("heldout", config.eval_prompts, seed=1)
        torch.manual_seed(config.seed)
        if resuming:
            self._resume()
        else:
            for path in (self.paths["metrics.jsonl"], self.paths["samples.jsonl"]):
                open(path, "w").close()
            with open(os.path.join(run_dir, "config.json"), "w") as f:
                json.dump(dict(asdict(config), task=task.name, init=os.path.abspath(init_dir),
                               reward=os.path.abspath(reward_dir)), f, indent=1)
        self.writer = SummaryWriter(self.paths["tensorboard"], purge_step=self.step + 1)

    # ---- checkpoints -----------------------------------------------------------------------------
    def _checkpoint(self, metrics: dict, best: bool) -> None:
        path = os.path.join(self.paths["checkpoints"], f"step-{self.step:06d}")
        if os.path.isdir(path):
            shutil.rmtree(path)  # left by a run killed before its state was saved
        save(self.model, self.tokenizer, path)
        state = {"optimizer": self.optimizer.state_dict(), "step": self.step, "guard": self.guard.state(),
                 "replay": self.replay, "metrics": metrics, "torch_rng": torch.get_rng_state()}
        commit(self.run_dir, path, state, self.paths["state.pt"], best, KEEP_CHECKPOINTS)

    def _resume(self) -> None:
        state = torch.load(self.paths["state.pt"], weights_only=False)
        self.step, self.replay = state["step"], state["replay"]
        self.guard.load(state["guard"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        for key in ("metrics.jsonl", "samples.jsonl"):  # a checkpoint's lines are logged before it is saved
            trim_jsonl(self.paths[key], "step", self.step)

    # ---- sampling and scoring -------------------------------------------------------------------
    @torch.inference_mode()
    def sample(self, problems: list[Problem], k: int, seed: int) -> tuple[list[str], np.ndarray]:
        """k outputs per problem (problem-major) and the log-probability ratio of each to the
        starting policy, both models scoring the same tokens (an end token included)."""
        self.model.eval()
        seeds = [seed * 1_000_003 + i for i in range(len(problems))]
        cands = self.policy.propose([p.prompt for p in problems], k, ("\n",), seeds, 1.0, MAX_CHARS)
        eos = self.tokenizer.eos_token_id
        texts, rows, lengths = [], [], []
        for p, cand in zip(problems, cands):
            head = self.policy.encode(p.prompt)
            for c in cand.proposals:
                texts.append(self.tokenizer.decode([t for t in c.ids if t != eos]))
                rows.append(head + list(c.ids))
                lengths.append(len(c.ids))
        ratio = np.zeros(len(rows))
        for start in range(0, len(rows), 256):
            chunk = slice(start, start + 256)
            mine = self.policy._token_logprobs(rows[chunk])
            ref = self.reference._token_logprobs(rows[chunk])
            for i, (a, b), n in zip(range(start, len(rows)), zip(mine, ref), lengths[chunk]):
                ratio[i] = sum(a[0][len(a[0]) - n:]) - sum(b[0][len(b[0]) - n:])
        return texts, ratio

    def _gold(self, problems: list[Problem], texts: list[str], k: int) -> list[float] | None:
        if self.monitor is None:
            return None
        return [self.monitor(problems[i // k], t) for i, t in enumerate(texts)]

    # ---- learners -------------------------------------------------------------------------------
    def learn(self, problems: list[Problem], texts: list[str], shaped: np.ndarray) -> float:
        k = self.config.samples
        if self.config.learner == "grpo":
            groups = [[(p.prompt, texts[i * k + j], float(shaped[i * k + j])) for j in range(k)]
                      for i, p in enumerate(problems)]
            return grpo_steps(self.model, self.tokenizer, self.optimizer, groups, self.config.batch_size, None,
                              self.policy.device)
        kept = []
        for i, p in enumerate(problems):
            j = int(np.argmax(shaped[i * k:(i + 1) * k]))
            if texts[i * k + j]:
                kept.append((p.prompt, texts[i * k + j]))
        self.replay = (self.replay + [kept])[-self.config.replay:]
        pool = [pair for window in self.replay for pair in window]
        rng = np.random.default_rng([self.config.seed, self.step, 3])
        pick = rng.choice(len(pool), size=min(self.config.batch_size, len(pool)), replace=False)
        self.model.train()
        loss = lm_step(self.model, self.optimizer, lm_batch(self.tokenizer, [pool[i] for i in pick], None, eos=False),
                       self.policy.device)
        self.model.eval()
        return loss

    # ---- evaluation -----------------------------------------------------------------------------
    def evaluate(self) -> tuple[dict, list[dict]]:
        cfg = self.config
        k = cfg.eval_samples
        texts, ratio = self.sample(self.eval_set, k, seed=cfg.seed * 7919 + 1)  # the same noise each time
        prompts = [p.prompt for p in self.eval_set for _ in range(k)]
        scores = self.rewards.scores(prompts, texts)  # (members, texts)
        out = {"eval_proxy_reward": float(scores[0].mean()), "eval_kl": float(ratio.mean()),
               "eval_sqrt_kl": math.sqrt(max(float(ratio.mean()), 0.0)),
               "eval_length": float(np.mean([len(t) for t in texts]))}
        for m in range(1, len(scores)):
            out[f"eval_member{m}_reward"] = float(scores[m].mean())
        heldout = float(scores[1:].mean()) if len(scores) > 1 else float(scores[0].mean())
        disagreement = float(scores.std(0).mean()) if len(scores) > 1 else 0.0
        out.update(eval_heldout_reward=heldout, eval_disagreement=disagreement,
                   eval_proxy_gap=float(scores[0].mean()) - heldout,
                   eval_conservative_reward=self.guard.conservative(heldout, disagreement))
        gold = self._gold(self.eval_set, texts, k)
        if gold is not None:
            out["eval_gold_reward"] = float(np.mean(gold))
        shown = [{"step": self.step, "kind": "eval", "prompt": prompts[i], "output": texts[i],
                  "proxy": float(scores[0][i]), **({"gold": gold[i]} if gold else {})} for i in range(0, len(texts), k)][:8]
        return out, shown

    # ---- the loop -------------------------------------------------------------------------------
    def _log(self, metrics: dict, shown: list[dict]) -> None:
        metrics = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metrics.items()}
        with open(self.paths["metrics.jsonl"], "a") as f:
            f.write(json.dumps(metrics) + "\n")
        with open(self.paths["samples.jsonl"], "a") as f:
            for row in shown:
                f.write(json.dumps(row) + "\n")
        for key, value in metrics.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, self.step)
        if "sample" in metrics:
            self.writer.add_text("sample", f"`{metrics['sample'].strip()}`", self.step)
        if shown and shown[-1]["kind"] == "eval":
            self.writer.add_text("evaluation samples", "\n\n".join(
                f"`{r['prompt'].strip()}` {r['output'].strip()}  (proxy {r['proxy']:.2f})"
                for r in shown if r["kind"] == "eval"), self.step)

    def run(self) -> dict:
        cfg = self.config
        last: dict = {}
        t0 = time.perf_counter()
        try:
            if self.step == 0 and not os.path.exists(self.paths["state.pt"]):
                metrics, shown = self.evaluate()  # the starting policy: the curves' origin
                best, _ = self.guard.update(0, metrics["eval_heldout_reward"], metrics["eval_disagreement"],
                                            metrics["eval_kl"])
                metrics = {"step": 0, **metrics, "guard_best_step": self.guard.best_step}
                self._log(metrics, shown)
                self._checkpoint(metrics, best)
            while self.step < cfg.steps and not (cfg.stop and self.guard.stop_step is not None):
                problems = prompt_batch(self.task, cfg.seed, self.step, cfg.prompts_per_step)
                texts, ratio = self.sample(problems, cfg.samples, seed=cfg.seed * 1_000_033 + self.step)
                proxy = self.rewards.scores([p.prompt for p in problems for _ in range(cfg.samples)], texts)[0]
                shaped = proxy - cfg.kl_coef * ratio
                loss = self.learn(problems, texts, shaped)
                self.step += 1
                metrics = {"step": self.step, "loss": loss, "proxy_reward": float(proxy.mean()),
                           "kl": float(ratio.mean()), "sqrt_kl": math.sqrt(max(float(ratio.mean()), 0.0)),
                           "length": float(np.mean([len(t) for t in texts])),
                           "seconds": time.perf_counter() - t0, "sample": problems[0].prompt + texts[0]}
                gold = self._gold(problems, texts, cfg.samples)
                if gold is not None:
                    metrics["gold_reward"] = float(np.mean(gold))
                shown = [{"step": self.step, "kind": "train", "prompt": problems[0].prompt, "output": texts[0],
                          "proxy": float(proxy[0]), **({"gold": gold[0]} if gold else {})}]
                if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                    evaluation, eval_shown = self.evaluate()
                    best, reason = self.guard.update(self.step, evaluation["eval_heldout_reward"],
                                                     evaluation["eval_disagreement"], evaluation["eval_kl"])
                    metrics.update(evaluation, guard_best_step=self.guard.best_step)
                    if self.guard.stop_step is not None:
                        metrics["guard_stop_step"] = self.guard.stop_step
                    self._log(metrics, shown + eval_shown)
                    self._checkpoint(metrics, best)
                    if reason and self.guard.stop_step == self.step:
                        with open(self.paths["stopped.json"], "w") as f:
                            json.dump({"step": self.step, "reason": reason, "best_step": self.guard.best_step}, f)
                else:
                    self._log(metrics, shown)
                print(f"\rstep {self.step}/{cfg.steps}  proxy {metrics['proxy_reward']:+.2f}  KL {metrics['kl']:.2f}"
                      + (f"  gold {metrics['gold_reward']:+.2f}" if "gold_reward" in metrics else ""),
                      end="", file=self.out, flush=True)
                last = metrics
        finally:
            print(file=self.out)
            self.writer.close()
            self.lock.release()
        return last
