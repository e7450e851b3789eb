"""GRPO (Shao et al. 2024), the policy-gradient learner beside expert iteration
(`move37 train TASK learner=grpo`): every sampled solution of a problem is weighted by its
reward's standing in its group, (r - mean) / std, and the log-probability of the model's own
tokens moves by that weight, one on-policy step per batch (so the clipped ratio of the paper is
1 and drops out; no KL term, as in DAPO and Dr. GRPO). Tokens the rules wrote (Countdown's
results and numbers left) carry no gradient, since the model did not choose them; groups whose
rewards are all equal carry none either.

Not TRL's GRPOTrainer: its generation runs whole completions in one go, while a Countdown
solution is made with the rules in the loop (the model writes `25-5=`, the rules append
`20 [4 7 20]`, the model goes on), so the samples come from move37's own rollouts, and the loss
is the few lines below.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from training.pretrain import lm_batch

RULES_TEXT = re.compile(r"=([^\n]*\n)")  # Countdown: everything after the model's `a op b=` is the rules'


def group_advantages(rewards: list[float], eps: float = 1e-6) -> np.ndarray:
    r = np.asarray(rewards, np.float64)
    std = r.std()
    return np.zeros_like(r) if std < eps else (r - r.mean()) / (std + eps)


def grpo_steps(model, tokenizer, optimizer, groups: list[list[tuple[str, str, float]]], batch_size: int,
               rules_text: re.Pattern | None, device) -> float:
    """One pass over the samples with a non-zero advantage: groups of (prompt, solution, reward)."""
    items = []
    for group in groups:
        adv = group_advantages([r for _, _, r in group])
        items += [(p, s, a) for (p, s, _), a in zip(group, adv) if a != 0 and s]
    if not items:
        return float("nan")
    model.train()
    losses = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        ids, labels, mask = lm_batch(tokenizer, [(p, s) for p, s, _ in chunk], rules_text, eos=False)
        ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target = labels[:, 1:]
        valid = target != -100
        logp = torch.log_softmax(logits, -1).gather(2, target.clamp(min=0)[..., None])[..., 0] * valid
        adv = torch.tensor([a for _, _, a in chunk], dtype=torch.float32, device=device)
        loss = -(adv[:, None] * logp).sum() / valid.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return float(np.mean(losses))
