"""The over-optimisation guard: decides, without the gold reward, that optimising a reward
model has begun to game it, and which checkpoint to keep.

What it watches, at each evaluation of the policy's samples on fixed prompts:
- the held-out reward: the mean reward given by the ensemble members the optimiser never sees
  (member 0 is the one optimised; training/reward.py);
- the members' disagreement: the standard deviation across all members of each sample's reward,
  averaged; it rises when samples leave the region the preference data covered;
- KL to the starting policy.
Its score is the conservative reward, held-out mean minus `uncertainty` times the disagreement
(the uncertainty-weighted objective of Coste et al. 2023, used here as a stopping rule). The
checkpoint with the best conservative reward is kept, among the evaluations where no stopping
rule fired. It stops when the disagreement has risen `disagreement_rise` (a share) above the
lowest it has been, when the best conservative reward is `patience` evaluations old, when KL
passes `kl_budget` (a backstop), or at the trainer's step cap. docs/RLHF.md has the evidence,
and says which seeds the defaults were chosen on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class GuardConfig:
    patience: int = 3  # evaluations without a new best conservative reward
    uncertainty: float = 1.0  # weight of the members' disagreement in the conservative reward
    kl_budget: float = 10.0  # nats of KL to the starting policy: a backstop
    disagreement_rise: float = 0.10  # stop when the disagreement is this share above its lowest


@dataclass
class Guard:
    config: GuardConfig = field(default_factory=GuardConfig)
    best: float = -math.inf
    best_step: int | None = None
    since_best: int = 0
    lowest_disagreement: float = math.inf
    stop_step: int | None = None
    reason: str | None = None

    def conservative(self, heldout_mean: float, disagreement: float) -> float:
        return heldout_mean - self.config.uncertainty * disagreement

    def update(self, step: int, heldout_mean: float, disagreement: float, kl: float) -> tuple[bool, str | None]:
        """Record one evaluation: (is it the new best checkpoint, the reason to stop or None).
        Once it has stopped, the decision stands: later calls (a run told to go on to its cap,
        to draw the curve past the stop) change nothing and report the first reason."""
        if self.stop_step is not None:
            return False, self.reason
        score = self.conservative(heldout_mean, disagreement)
        self.lowest_disagreement = min(self.lowest_disagreement, disagreement)
        rise = disagreement / self.lowest_disagreement - 1 if self.lowest_disagreement > 0 else 0.0
        rising = rise > self.config.disagreement_rise
        improved = score > self.best and kl <= self.config.kl_budget and not rising  # never keep a flagged one
        if improved:
            self.best, self.best_step, self.since_best = score, step, 0
        else:
            self.since_best += 1
        reason = None
        if rising:
            reason = (f"the reward models' disagreement {disagreement:.2f} is {rise:.0%} above its lowest "
                      f"({self.lowest_disagreement:.2f})")
        elif self.since_best >= self.config.patience:
            reason = f"conservative reward not improved in {self.since_best} evaluations"
        elif kl > self.config.kl_budget:
            reason = f"KL {kl:.1f} past the budget of {self.config.kl_budget:g} nats"
        if reason:
            self.stop_step, self.reason = step, reason
        return improved, self.reason

    def state(self) -> dict:
        return {"best": self.best, "best_step": self.best_step, "since_best": self.since_best,
                "lowest_disagreement": self.lowest_disagreement, "stop_step": self.stop_step, "reason": self.reason}

    def load(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
