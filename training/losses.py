"""The learning step's numbers: AlphaZero's loss (policy cross-entropy against the search's
policy target, value mean squared error against the game's result), KataGo's ownership loss, and
the learning-rate schedule. Kept apart from the loop so they are tested against values worked
out by hand (tests/test_losses.py)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def learning_rate(base: float, progress: float) -> float:
    """Cosine decay from `base` to a tenth of it as `progress` (share of the planned run) goes
    from 0 to 1; clamped outside that range."""
    p = min(max(progress, 0.0), 1.0)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def ownership_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the predicted and the final owner of each point, both read as the
    probability (1 + o) / 2 that the mover owns it (the head predicts o = tanh(logit)), averaged
    over the board. Positions with unknown owners (resigned games, NaN) count zero."""
    known = ~torch.isnan(target).flatten(1).any(dim=1)
    if not bool(known.any()):
        return logits.sum() * 0.0
    prob = (1.0 + target[known]) / 2.0
    return F.binary_cross_entropy_with_logits(2.0 * logits[known], prob)  # tanh(x) = 2 sigmoid(2x) - 1


def losses(policy_logits: torch.Tensor, value: torch.Tensor, owner_logits: torch.Tensor | None,
           policy_target: torch.Tensor, value_target: torch.Tensor, owner_target: torch.Tensor | None,
           ownership_weight: float) -> dict[str, torch.Tensor]:
    """The batch's losses in fp32 (whatever precision the forward pass ran in): `policy`,
    `value`, `ownership` (when the network has that head), their weighted sum `total`, and the
    policy's mean `entropy` (logged, not trained on)."""
    log_p = F.log_softmax(policy_logits.float(), dim=1)
    out = {"policy": -(policy_target * log_p).sum(dim=1).mean(),
           "value": F.mse_loss(value.float(), value_target)}
    out["total"] = out["policy"] + out["value"]
    if owner_logits is not None:
        out["ownership"] = ownership_loss(owner_logits.float(), owner_target)
        out["total"] = out["total"] + ownership_weight * out["ownership"]
    out["entropy"] = -(log_p.exp() * log_p).sum(dim=1).mean().detach()
    return out
