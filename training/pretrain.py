"""`move37 pretrain TASK`: the task's base language model, trained from scratch on generated
traces, with the run-directory conventions of game training.

Traces: for Countdown, chains of random legal steps that are not solutions (which steps reach
the target is for search and expert iteration to find; the base model learns the format and
the rules, not the strategy); for `arith`, correct step-by-step computations ending in
`answer: N`. Loss on the solution's tokens only, never the prompt's; and in Countdown, where the
rules write each step's result and the numbers left (`=20 [4 7 20]\n` after the model's `25-5`),
not on the result (the arithmetic is the rules'), but on the list of numbers left: copying it is
the skill choosing operands needs, and learning it brought legal steps in far sooner.

Run directory:
    model/            the Hugging Face model directory (written atomically), what `builtin` loads
    done              written when the planned steps are complete
    state.pt          weights, optimizer, step, random states and the step's metrics line, in one
                      atomic file: what resume reads (model/ is the export of the same weights)
    tensorboard/      event files
    metrics.jsonl     one JSON object per logged step
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from engine.llm.hfdir import make_model, make_tokenizer, save
from engine.llm.local import LocalPolicy
from games.math.arith import Arith, trace
from games.math.countdown import Countdown, apply
from games.math.task import Task, TaskError
from games.text.reviews import MAX_CHARS, Reviews, parse
from mcts.rollout import rollouts
from training.checkpoints import trim_jsonl
from training.run import RunError, RunLock


@dataclass
class PretrainConfig:
    size: str = "small"
    # with the loss on the numbers-left lists and traces that use the numbers up, 88% of sampled
    # steps were legal at 2000 steps and 96% from 3500 on (docs/LLM.md)
    steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 2e-3
    save_every: int = 500
    log_every: int = 25
    eval_problems: int = 100
    seed: int = 0


def default_config(task: Task) -> PretrainConfig:
    """The pretraining settings a task's built-in model is made with: the task may shorten the
    schedule (reviews: 88% of sampled reviews grammatical after 800 steps, docs/RLHF.md)."""
    config = PretrainConfig()
    config.steps = getattr(task, "pretrain_steps", config.steps)
    return config


def countdown_trace(task: Countdown, rng: np.random.Generator) -> tuple[str, str]:
    """A prompt like the task's and a chain of random legal steps that never reaches the target
    and runs until the numbers are used up (one left), where the rules end a solution. Traces of
    1 to count-1 steps taught the model to stop after a step or two by itself (its end-of-text
    token), and greedy decoding then stopped there (docs/LLM.md); here the model never has to
    stop: the target reached or the numbers used up end every solution."""
    numbers = [int(x) for x in rng.integers(task.low, task.high + 1, task.count)]
    pool = [t for t in range(task.target_low, task.target_high + 1) if t not in task.heldout_targets]
    target = int(pool[rng.integers(len(pool))])
    problem = task.make_problem(numbers, target, "trace")
    avail, text = list(numbers), ""
    for _ in range(task.count - 1):
        moves = [(a, op, b) for i, a in enumerate(avail) for j, b in enumerate(avail) if i != j for op in "+-*/"
                 if (c := apply(a, op, b)) is not None and c != target]
        if not moves:
            break
        a, op, b = moves[rng.integers(len(moves))]
        text += task.step(problem, text, f"{a}{op}{b}=").line  # the line exactly as the rules write it
        avail.remove(a)
        avail.remove(b)
        avail.append(apply(a, op, b))
    return problem.prompt, text


def arith_trace(task: Arith, rng: np.random.Generator) -> tuple[str, str]:
    numbers, ops = task.sample(rng)
    lines, value = trace(numbers, ops)
    text = "".join(f"{x}{o}" for x, o in zip(numbers, ops)) + str(numbers[-1])
    return f"compute: {text}\n", "".join(line + "\n" for line in lines) + f"answer: {value}\n"


def lm_batch(tokenizer, pairs: list[tuple[str, str]], rules_write: re.Pattern | None = None,
             eos: bool | list[bool] = True):
    """(input ids, labels, attention mask) for causal-LM training on (prompt, solution) pairs:
    BOS, prompt, solution and (with `eos`, one flag for all or one per pair) EOS; labels only on
    the solution and its EOS (-100 elsewhere), and not on the spans of the solution that
    `rules_write`'s first group matches (what the rules write, such as Countdown's results)."""
    bos, pad = tokenizer.bos_token_id, tokenizer.pad_token_id
    ends = [eos] * len(pairs) if isinstance(eos, bool) else list(eos)
    rows, labels = [], []
    for (prompt, solution), end in zip(pairs, ends, strict=True):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        enc = tokenizer(solution, add_special_tokens=False, return_offsets_mapping=True)
        s = enc["input_ids"] + ([tokenizer.eos_token_id] if end else [])
        rows.append([bos] + p + s)
        target = list(s)
        if rules_write is not None:
            spans = [m.span(1) for m in rules_write.finditer(solution)]
            for k, (a, b) in enumerate(enc["offset_mapping"]):
                if any(lo <= a and b <= hi for lo, hi in spans):
                    target[k] = -100
        labels.append([-100] * (1 + len(p)) + target)  # the prompt carries no loss
    width = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    lab = torch.tensor([x + [-100] * (width - len(x)) for x in labels])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, lab, mask


def rules_labels(tokenizer, pairs: list[tuple[str, str]], rules_write: re.Pattern | None) -> torch.Tensor | None:
    """Labels (lm_batch's shape, without EOS) on exactly the tokens `rules_write` keeps out of
    lm_batch's labels: what the rules wrote, as an auxiliary target. None without rules."""
    if rules_write is None:
        return None
    every = lm_batch(tokenizer, pairs, None, eos=False)[1]
    choices = lm_batch(tokenizer, pairs, rules_write, eos=False)[1]
    return torch.where(choices == -100, every, torch.full_like(every, -100))


def lm_step(model, optimizer, batch, device, extra_labels: torch.Tensor | None = None,
            extra_weight: float = 0.0) -> float:
    """One optimizer step of the masked language-model loss on an `lm_batch` batch, gradients
    clipped to norm 1; the loss as a float. `extra_labels` (the batch's shape, -100 where
    unused) adds a second mean token loss at `extra_weight`: an auxiliary target such as the
    results the rules wrote, which the main loss leaves out."""
    ids, labels, mask = (x.to(device) for x in batch)
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    loss = out.loss
    if extra_labels is not None and extra_weight > 0 and bool((extra_labels != -100).any()):
        logits = out.logits[:, :-1].float()
        extra = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                  extra_labels[:, 1:].reshape(-1).to(device), ignore_index=-100)
        loss = loss + extra_weight * extra
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())


# Countdown: the results the rules compute carry no loss (arithmetic is the rules' job, and
# predicting it swamped the signal); the list of numbers left after them does: it is pure copying,
# which is what choosing operands needs, so it teaches the model to copy (docs/LLM.md).
RULES_WRITE = re.compile(r"=(\d+)")


def make_trace(task: Task, rng: np.random.Generator) -> tuple[str, str]:
    if isinstance(task, Countdown) and not getattr(task, "rows", None):
        return countdown_trace(task, rng)
    if isinstance(task, Arith):
        return arith_trace(task, rng)
    if hasattr(task, "trace"):  # a task that writes its own corpus (reviews)
        return task.trace(rng)
    raise TaskError(f"move37 pretrain makes traces for countdown, arith and reviews; {task.name} has none (use hf:DIR).")


class Pretrainer:
    def __init__(self, task: Task, run_dir: str, config: PretrainConfig, resume: bool = False, out=None):
        self.task, self.run_dir, self.config = task, run_dir, config
        self.out = sys.stderr if out is None else out
        make_trace(task, np.random.default_rng(0))  # one sentence for a task without traces
        self.paths = {k: os.path.join(run_dir, k) for k in ("model", "state.pt", "tensorboard", "metrics.jsonl")}
        if os.path.exists(self.paths["state.pt"]) and not resume:
            raise RunError(f"{run_dir} already holds a pretraining run; pass --resume to continue it.")
        os.makedirs(self.paths["tensorboard"], exist_ok=True)
        self.lock = RunLock(run_dir)
        self.tokenizer = make_tokenizer()
        # what the rules write into a solution (Countdown's calculator results), kept out of the loss
        self.rules_write = RULES_WRITE if isinstance(task, Countdown) else None
        self.rng = np.random.default_rng(config.seed)
        self.step = 0
        self.model = make_model(self.tokenizer, config.size, seed=config.seed)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate, weight_decay=0.01)
        if resume and os.path.exists(self.paths["state.pt"]):
            self._resume()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(self.paths["tensorboard"], purge_step=self.step + 1)

    def _resume(self) -> None:
        state = torch.load(self.paths["state.pt"], weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.rng.bit_generator.state = json.loads(state["numpy_rng"])
        torch.set_rng_state(state["torch_rng"])
        trim_jsonl(self.paths["metrics.jsonl"], "step", self.step, state.get("metrics"))
        save(self.model, self.tokenizer, self.paths["model"])  # the export follows the weights resumed

    def _save(self, metrics: dict) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step,
                 "config": asdict(self.config), "task": self.task.name, "metrics": metrics,
                 "numpy_rng": json.dumps(self.rng.bit_generator.state), "torch_rng": torch.get_rng_state()}
        tmp = self.paths["state.pt"] + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.paths["state.pt"])

    def batch(self):
        return lm_batch(self.tokenizer, [make_trace(self.task, self.rng) for _ in range(self.config.batch_size)],
                        self.rules_write)

    def learning_rate(self) -> float:
        p = min(self.step / max(self.config.steps, 1), 1.0)
        warm = min(1.0, (self.step + 1) / 50)
        return self.config.learning_rate * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    def run(self) -> dict:
        cfg = self.config
        t0, last = time.perf_counter(), {}
        self.model.train()
        try:
            while self.step < cfg.steps:
                for group in self.optimizer.param_groups:
                    group["lr"] = self.learning_rate()
                loss = lm_step(self.model, self.optimizer, self.batch(), self.model.device)
                self.step += 1
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    last = {"step": self.step, "loss": loss, "learning_rate": self.learning_rate(),
                            "seconds": time.perf_counter() - t0}
                    if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                        save(self.model, self.tokenizer, self.paths["model"])
                        self.model.eval()
                        last.update(self.evaluate())
                        self.model.train()
                        self._save(last)
                    with open(self.paths["metrics.jsonl"], "a") as f:
                        f.write(json.dumps(last) + "\n")
                    for key, value in last.items():
                        if key != "step":
                            self.writer.add_scalar(key, value, self.step)
                    self.writer.flush()
                    print(f"\rstep {self.step}/{cfg.steps}  loss {loss:.3f}"
                          + (f"  legal steps {last['legal_step_share']:.1%}" if "legal_step_share" in last else "")
                          + (f"  grammatical {last['grammatical_share']:.1%}" if "grammatical_share" in last else ""),
                          end="", file=self.out, flush=True)
            if self.step >= cfg.steps:  # a finished run: what `builtin` waits for
                open(os.path.join(self.run_dir, "done"), "w").close()
        finally:
            print(file=self.out)
            self.writer.close()
            self.lock.release()
        return last

    def evaluate(self) -> dict:
        """Sampled solutions on held-out problems: the share of step lines the rules accept."""
        policy = LocalPolicy(self.paths["model"], name="pretrain")
        problems = self.task.problems("heldout", self.config.eval_problems, 0)
        if isinstance(self.task, Reviews):  # free text: how much of it the grammar makes
            outs = policy.propose([p.prompt for p in problems], 1, ("\n",), list(range(len(problems))), 1.0, MAX_CHARS)
            texts = [c.proposals[0].text for c in outs]
            good = [t.endswith("\n") and bool(read) and None not in read for t in texts for read in [parse(t)]]
            return {"grammatical_share": float(np.mean(good))}
        samples = rollouts(self.task, problems, policy, 1, 1.0, seed=self.step)
        steps = sum(r.steps for rs in samples for r in rs)
        illegal = sum(not r.legal for rs in samples for r in rs)
        out = {"legal_step_share": steps / max(steps + illegal, 1)}
        if isinstance(self.task, Arith):  # the model computes: how often its step results are right
            right = sum(self.task.check(p, rs[0].text) for p, rs in zip(problems, samples))
            out["sampled_solve_rate"] = right / len(problems)
            lines = [m.groups() for rs in samples for r in rs for m in map(_ARITH_STEP.match, r.text.splitlines()) if m]
            good = sum(int(c) == {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
                       for a, op, b, c in lines)
            out["right_step_share"] = good / max(len(lines), 1)
        return out


_ARITH_STEP = re.compile(r"^(-?\d+)([-+*])(-?\d+)=(-?\d+)$")
