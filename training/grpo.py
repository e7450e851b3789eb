"""GRPO (Shao et al. 2024), the policy-gradient learner beside expert iteration
(`move37 train TASK learner=grpo`): every sampled solution of a problem is weighted by its
reward's standing in its group, (r - mean) / std, and the log-probability of the model's own
tokens moves by that weight, one on-policy step per batch (so the clipped ratio of the paper is
1 and drops out; no KL term, as in DAPO and Dr. GRPO). Tokens the rules wrote (Countdown's
results and numbers left) carry no gradient, since the model did not choose them; groups whose
rewards are all equal carry none either.

Every choice the model made does carry it, the last one included: the end-of-text token when
the model stopped a solution itself, and the step the rules refused when one ended it. Without
them, stopping early was the one choice a wrong sample never pushed down, while wrong samples
that went on pushed down going on, and the policy collapsed to one-step answers (docs/LLM.md).

Not TRL's GRPOTrainer: its generation runs whole completions in one go, while a Countdown
solution is made with the rules in the loop (the model writes `25-5=`, the rules append
`20 [4 7 20]`, the model goes on), so the samples come from move37's own rollouts, and the loss
is the few lines below.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import torch

from training.pretrain import lm_batch

RULES_TEXT = re.compile(r"=([^\n]*\n)")  # Countdown: everything after the model's `a op b=` is the rules'


def group_advantages(rewards: list[float], eps: float = 1e-6) -> np.ndarray:
    r = np.asarray(rewards, np.float64)
    std = r.std()
    return np.zeros_like(r) if std < eps else (r - r.mean()) / (std + eps)


class Sample(NamedTuple):
    """One sample of a group: `solution` is the text whose model-chosen tokens take the gradient
    (a refused last step appended), `stopped` that the model ended it with end-of-text."""

    prompt: str
    solution: str
    reward: float
    stopped: bool = False


def grpo_steps(model, tokenizer, optimizer, groups: list[list[Sample | tuple]], batch_size: int,
               rules_text: re.Pattern | None, device) -> float:
    """One pass over the samples with a non-zero advantage: groups of Samples, or of (prompt,
    solution, reward) tuples."""
    items = []
    for group in groups:
        group = [Sample(*x) for x in group]
        adv = group_advantages([x.reward for x in group])
        items += [(x, a) for x, a in zip(group, adv) if a != 0 and (x.solution or x.stopped)]
    if not items:
        return float("nan")
    model.train()
    losses = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        ids, labels, mask = lm_batch(tokenizer, [(x.prompt, x.solution) for x, _ in chunk], rules_text,
                                     eos=[x.stopped for x, _ in chunk])
        ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target = labels[:, 1:]
        valid = target != -100
        logp = torch.log_softmax(logits, -1).gather(2, target.clamp(min=0)[..., None])[..., 0] * valid
        adv = torch.tensor([a for _, a in chunk], dtype=torch.float32, device=device)
        loss = -(adv[:, None] * logp).sum() / valid.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return float(np.mean(losses))
