"""Reward models from preferences: the policy's transformer with a scalar head (a stock
`LlamaForSequenceClassification`, so TRL's RewardTrainer and any transformers code load it),
trained with the Bradley-Terry loss on (chosen, rejected) pairs, as an ensemble.

Why an ensemble: one reward model's errors are where an optimiser goes; several, trained from
different initial heads on different draws of the data, agree where the data was and disagree
where it was not, and that disagreement is what the over-optimisation guard (training/guard.py)
watches. Member 0 is the one optimised against; the others are held out from the optimiser.

Each member's scores are normalised to mean 0 and standard deviation 1 over the texts of the
validation pairs, so members are comparable and rewards have one scale whatever the head learned.

Run directory (`move37 reward PREFS.jsonl --run-dir DIR`):
    members/K/        member K as a Hugging Face model directory (AutoModelForSequenceClassification)
    reward.json       members, normalisation, validation accuracy (each member's and the ensemble's),
                      the labels' noise ceiling when the preference file came with one
    state.json        the members finished: a run killed in a member resumes at that member
    metrics.jsonl, tensorboard/, config.json
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from engine.llm.hfdir import save
from training.checkpoints import trim_jsonl
from training.preferences import Pair
from training.run import RunError, RunLock


@dataclass
class RewardConfig:
    members: int = field(default=4, metadata={"help": "reward models in the ensemble (member 0 is the one optimised)"})
    epochs: int = field(default=2, metadata={"help": "passes over each member's share of the pairs"})
    share: float = field(default=0.8, metadata={"help": "share of the training pairs each member draws (without replacement)"})
    batch_size: int = field(default=32, metadata={"help": "pairs per optimizer step"})
    learning_rate: float = field(default=2e-4, metadata={"help": "AdamW learning rate"})
    validation: float = field(default=0.1, metadata={"help": "share of the pairs held out from every member to measure accuracy"})
    seed: int = field(default=0, metadata={"help": "seeds the split, the members' data draws and their heads"})


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(r_chosen - r_rejected), averaged: the negative log-likelihood of the
    preferences under Bradley-Terry with the rewards as log-strengths."""
    return -torch.nn.functional.logsigmoid(chosen - rejected).mean()


def pair_accuracy(chosen: np.ndarray, rejected: np.ndarray) -> float:
    """Share of pairs ranked as the labels rank them (a tie counts half)."""
    diff = np.asarray(chosen, np.float64) - np.asarray(rejected, np.float64)
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def load_member(directory: str, device):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory, num_labels=1).to(device).eval()
    return model, tokenizer


def member_from_policy(directory: str, seed: int, device):
    """A reward model made from the policy in `directory`: its transformer, a new scalar head."""
    torch.manual_seed(seed)
    return load_member(directory, device)


def encode(tokenizer, prompts: list[str], outputs: list[str], device):
    """BOS, prompt, output, EOS per row, right-padded: the model scores at the EOS."""
    rows = [[tokenizer.bos_token_id] + tokenizer(p + o, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            for p, o in zip(prompts, outputs)]
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    return ids, mask


def raw_scores(model, tokenizer, prompts: list[str], outputs: list[str], batch: int = 256) -> torch.Tensor:
    """Each (prompt, output)'s score, in the order given. Rows are scored in batches of similar
    length, since a batch pads to its longest row: many short outputs and a few long ones (a
    best-of-n pool) would otherwise cost several times their tokens."""
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(outputs[i]))
    out = []
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        ids, mask = encode(tokenizer, [prompts[i] for i in rows], [outputs[i] for i in rows], device)
        out.append(model(input_ids=ids, attention_mask=mask).logits[:, 0].float())
    if not out:
        return torch.zeros(0)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[order] = torch.arange(len(order))
    return torch.cat(out)[inverse.to(device)]


class RewardEnsemble:
    """The members of a reward run, loaded: `scores` gives every member's normalised reward."""

    def __init__(self, run_dir: str, device: str = "cpu"):
        path = os.path.join(run_dir, "reward.json")
        if not os.path.isfile(path):
            raise RunError(f"{run_dir} holds no finished reward model (reward.json); train one with move37 reward.")
        with open(path) as f:
            self.info = json.load(f)
        self.device = torch.device(device)
        self.members = [load_member(os.path.join(run_dir, "members", str(k)), self.device)
                        for k in range(self.info["members"])]
        self.norm = self.info["normalisation"]

    def __len__(self) -> int:
        return len(self.members)

    @torch.inference_mode()
    def scores(self, prompts: list[str], outputs: list[str]) -> np.ndarray:
        """(members, texts): member k's reward for each (prompt, output), normalised."""
        out = np.zeros((len(self.members), len(prompts)))
        for k, (model, tokenizer) in enumerate(self.members):
            mean, std = self.norm[k]
            out[k] = (raw_scores(model, tokenizer, prompts, outputs).cpu().numpy() - mean) / std
        return out


def split_pairs(pairs: list[Pair], validation: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    order = np.random.default_rng([seed, 17]).permutation(len(pairs))
    cut = int(round(len(pairs) * validation))
    return [pairs[i] for i in order[cut:]], [pairs[i] for i in order[:cut]]


class RewardTrainer:
    def __init__(self, pairs: list[Pair], run_dir: str, init_dir: str, config: RewardConfig, resume: bool = False,
                 noise_ceiling: float | None = None, device: str = "cpu", out=None):
        self.pairs, self.run_dir, self.init_dir, self.config = pairs, run_dir, init_dir, config
        self.out = sys.stderr if out is None else out
        self.noise_ceiling = noise_ceiling
        self.device = torch.device(device)
        state_path = os.path.join(run_dir, "state.json")
        if os.path.exists(state_path) and not resume:
            raise RunError(f"{run_dir} already holds a reward run; pass --resume to continue it.")
        if config.members < 1 or not 0 < config.share <= 1 or not 0 < config.validation < 1:
            raise RunError("members must be at least 1, share in (0, 1] and validation in (0, 1).")
        self.train, self.valid = split_pairs(pairs, config.validation, config.seed)
        if len(self.valid) < 1 or len(self.train) < 2:
            raise RunError(f"{len(pairs)} pairs are too few to train and validate a reward model.")
        os.makedirs(os.path.join(run_dir, "members"), exist_ok=True)
        self.lock = RunLock(run_dir)
        self.done: list[dict] = []
        if resume and os.path.exists(state_path):
            with open(state_path) as f:
                self.done = json.load(f)["members"]
            self._trim_metrics()
        else:
            with open(os.path.join(run_dir, "config.json"), "w") as f:
                json.dump(dict(asdict(config), init=os.path.abspath(init_dir), pairs=len(pairs)), f, indent=1)
            open(os.path.join(run_dir, "metrics.jsonl"), "w").close()

    def _trim_metrics(self) -> None:
        """Drop the lines of the member that was cut off, so its rerun does not log twice
        (members finish in order, so the finished ones are 0 to len(done) - 1)."""
        trim_jsonl(os.path.join(self.run_dir, "metrics.jsonl"), "member", len(self.done) - 1)

    def _log(self, writer, row: dict) -> None:
        with open(os.path.join(self.run_dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        for key, value in row.items():
            if key not in ("member", "step") and isinstance(value, (int, float)):
                writer.add_scalar(f"member{row['member']}/{key}", value, row.get("step", 0))

    def train_member(self, k: int, writer) -> dict:
        cfg = self.config
        model, tokenizer = member_from_policy(self.init_dir, cfg.seed * 1000 + k, self.device)
        rng = np.random.default_rng([cfg.seed, k, 5])
        draw = rng.choice(len(self.train), size=max(2, int(len(self.train) * cfg.share)), replace=False)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
        steps = cfg.epochs * math.ceil(len(draw) / cfg.batch_size)
        step, t0 = 0, time.perf_counter()
        model.train()
        for _ in range(cfg.epochs):
            order = rng.permutation(draw)
            for start in range(0, len(order), cfg.batch_size):
                batch = [self.train[i] for i in order[start:start + cfg.batch_size]]
                prompts = [p.prompt for p in batch]
                r = raw_scores(model, tokenizer, prompts + prompts, [p.chosen for p in batch] + [p.rejected for p in batch])
                loss = bradley_terry_loss(r[:len(batch)], r[len(batch):])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                step += 1
                if step % 10 == 0 or step == steps:
                    self._log(writer, {"member": k, "step": step, "loss": float(loss.detach()),
                                       "seconds": time.perf_counter() - t0})
                    print(f"\rreward model {k + 1}/{cfg.members}  step {step}/{steps}  loss {float(loss.detach()):.3f}",
                          end="", file=self.out, flush=True)
        model.eval()
        with torch.inference_mode():
            prompts = [p.prompt for p in self.valid]
            chosen = raw_scores(model, tokenizer, prompts, [p.chosen for p in self.valid]).cpu().numpy()
            rejected = raw_scores(model, tokenizer, prompts, [p.rejected for p in self.valid]).cpu().numpy()
        both = np.concatenate([chosen, rejected])
        mean, std = float(both.mean()), float(both.std() or 1.0)
        save(model, tokenizer, os.path.join(self.run_dir, "members", str(k)))
        result = {"member": k, "step": step, "validation_accuracy": pair_accuracy(chosen, rejected),
                  "mean": mean, "std": std, "chosen": ((chosen - mean) / std).tolist(),
                  "rejected": ((rejected - mean) / std).tolist()}
        self._log(writer, {"member": k, "step": step, "validation_accuracy": result["validation_accuracy"]})
        return result

    def run(self) -> dict:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.path.join(self.run_dir, "tensorboard"))
        try:
            for k in range(len(self.done), self.config.members):
                self.done.append(self.train_member(k, writer))
                tmp = os.path.join(self.run_dir, "state.json.tmp")
                with open(tmp, "w") as f:
                    json.dump({"members": self.done}, f)
                os.replace(tmp, os.path.join(self.run_dir, "state.json"))
            print(file=self.out)
            mean_chosen = np.mean([m["chosen"] for m in self.done], 0)
            mean_rejected = np.mean([m["rejected"] for m in self.done], 0)
            info = {"members": self.config.members, "normalisation": [[m["mean"], m["std"]] for m in self.done],
                    "validation_pairs": len(self.valid), "training_pairs": len(self.train),
                    "member_accuracy": [m["validation_accuracy"] for m in self.done],
                    "ensemble_accuracy": pair_accuracy(mean_chosen, mean_rejected),
                    "noise_ceiling": self.noise_ceiling}
            tmp = os.path.join(self.run_dir, "reward.json.tmp")
            with open(tmp, "w") as f:
                json.dump(info, f, indent=1)
            os.replace(tmp, os.path.join(self.run_dir, "reward.json"))
            writer.add_scalar("ensemble_accuracy", info["ensemble_accuracy"], 0)
            return info
        finally:
            writer.close()
            self.lock.release()
