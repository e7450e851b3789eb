"""The learning step's numbers against values worked out by hand on a tiny batch, and the trainer
reporting exactly what those functions compute on the batch it trained on."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from training.losses import learning_rate, losses, ownership_loss

LN2, LN3 = math.log(2), math.log(3)


def test_policy_cross_entropy_and_value_error_by_hand():
    logits = torch.tensor([[0.0, 0.0], [0.0, LN3]])  # softmax: (1/2, 1/2) and (1/4, 3/4)
    pi = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    v, z = torch.tensor([0.5, -0.5]), torch.tensor([1.0, -1.0])
    out = losses(logits, v, None, pi, z, None, ownership_weight=1.5)
    policy = (LN2 + 0.5 * (math.log(4) + math.log(4 / 3))) / 2  # -sum pi log p, averaged
    entropy = (LN2 + (0.25 * math.log(4) + 0.75 * math.log(4 / 3))) / 2
    assert out["policy"].item() == pytest.approx(policy, abs=1e-6)
    assert out["value"].item() == pytest.approx(0.25, abs=1e-7)  # ((0.5)^2 + (0.5)^2) / 2
    assert out["total"].item() == pytest.approx(policy + 0.25, abs=1e-6)
    assert out["entropy"].item() == pytest.approx(entropy, abs=1e-6)
    assert "ownership" not in out


def test_ownership_loss_by_hand_with_an_unknown_position():
    # a logit of ln(3)/2 says the mover owns the point with probability sigmoid(ln 3) = 3/4
    logits = torch.full((2, 1, 3), LN3 / 2)
    target = torch.tensor([[[1.0, -1.0, 0.0]], [[float("nan"), 1.0, 1.0]]])  # the second: unknown (resigned)
    per_point = [-math.log(0.75), -math.log(0.25), -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))]
    assert ownership_loss(logits, target).item() == pytest.approx(sum(per_point) / 3, abs=1e-6)
    assert ownership_loss(logits[1:], target[1:]).item() == 0.0  # nothing known, nothing learned
    out = losses(torch.zeros(2, 2), torch.zeros(2), logits, torch.full((2, 2), 0.5), torch.zeros(2), target, 1.5)
    assert out["total"].item() == pytest.approx(LN2 + 0.0 + 1.5 * sum(per_point) / 3, abs=1e-6)


def test_learning_rate_schedule_by_hand():
    assert learning_rate(0.02, 0.0) == pytest.approx(0.02)
    assert learning_rate(0.02, 0.5) == pytest.approx(0.02 * 0.55)  # 0.1 + 0.9 * (1 + cos(pi/2)) / 2
    assert learning_rate(0.02, 0.25) == pytest.approx(0.02 * (0.1 + 0.45 * (1 + math.sqrt(0.5))))
    assert learning_rate(0.02, 1.0) == pytest.approx(0.002)
    assert learning_rate(0.02, 3.0) == learning_rate(0.02, 1.0) and learning_rate(0.02, -1) == 0.02


def test_the_trainer_reports_the_loss_of_the_batch_it_trained_on(tmp_path):
    from training.config import TrainConfig
    from training.run import Trainer

    config = TrainConfig().override(game="tictactoe", batch_size=8, sample_reuse=1.0, network="b1c8",
                                    learning_rate=0.05)
    trainer = Trainer(config, str(tmp_path / "run"))
    try:
        rng = np.random.default_rng(3)
        n = 40
        obs = rng.integers(0, 2, (n, *trainer.game.observation_shape)).astype(np.float32)
        pi = rng.dirichlet(np.ones(9), n).astype(np.float32)
        z = rng.choice([-1.0, 0.0, 1.0], n).astype(np.float32)
        trainer.replay.add(obs, pi, z, None)
        before = copy.deepcopy(trainer.net).train()
        sampler = copy.deepcopy(trainer.rng)
        out = trainer._train(new_positions=8, progress=0.5)  # one step: round(8 * 1 / 8)
        batch_obs, batch_pi, batch_z, _ = trainer.replay.sample(8, sampler, trainer.game.symmetries)
        logits, v, _ = before.forward_train(torch.from_numpy(batch_obs))
        expected = losses(logits, v, None, torch.from_numpy(batch_pi), torch.from_numpy(batch_z), None, 0.0)
        assert out["train_steps"] == 1 and out["learning_rate"] == pytest.approx(0.05 * 0.55)
        assert out["policy_loss"] == pytest.approx(expected["policy"].item(), rel=1e-5)
        assert out["value_loss"] == pytest.approx(expected["value"].item(), rel=1e-5)
        assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), trainer.net.parameters()))
    finally:
        trainer.lock.release()
        trainer.writer.close()
