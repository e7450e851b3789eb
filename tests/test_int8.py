"""int8 inference: the quantized copy agrees with fp32, is used only for large CPU batches, and
a machine or device that cannot run it gets one sentence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import games
from benchmarks import precision_error
from engine.nets.inference import CPU_INT8_MIN_BATCH, NetworkEvaluator, check_precision
from engine.nets.network import NetworkConfig, PolicyValueNet
from engine.play.base import PlayerSpecError
from engine.play.specs import make_player
from engine.nets.cpu import cpu_has_vnni

needs_vnni = pytest.mark.skipif(not cpu_has_vnni(), reason="int8 inference needs a CPU with VNNI")


def _positions(game, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observations and legal masks of `n` positions from random games."""
    rng = np.random.default_rng(seed)
    obs, masks = [], []
    while len(obs) < n:
        state = game.new_initial_state()
        while not state.is_terminal() and len(obs) < n:
            obs.append(state.observation())
            mask = np.zeros(game.num_actions, bool)
            mask[state.legal_actions()] = True
            masks.append(mask)
            state.apply_action(int(rng.choice(state.legal_actions())))
    return np.stack(obs).astype(np.float32), np.stack(masks)


def _trained_like_net(game):
    """A network whose batch norms hold running statistics, so folding them matters."""
    torch.manual_seed(0)
    net = PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(2, 16)).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(64, *game.observation_shape) * 0.5 + 0.5)
    return net.eval()


@needs_vnni
def test_int8_agrees_with_fp32_on_large_batches_and_leaves_small_ones_alone():
    game = games.make("connect4")
    net = _trained_like_net(game)
    calibration, _ = _positions(game, 512, seed=1)
    obs, masks = _positions(game, 256, seed=2)
    ref_p, ref_v = NetworkEvaluator(net, "cpu", cache_size=0, precision="fp32").evaluate(obs, masks)
    ev = NetworkEvaluator(net, "cpu", cache_size=0, precision="int8", calibration=calibration)
    assert ev.int8 is not None
    p, v = ev.evaluate(obs, masks)
    assert not np.array_equal(p, ref_p)  # the int8 copy answered, not the fp32 one
    assert np.abs(p - ref_p).max() < 0.01 and np.abs(v - ref_v).max() < 0.01
    assert np.allclose(p.sum(axis=1), 1) and np.all(p[~masks] == 0)
    ops = [node.kind() for node in ev.int8.graph.nodes()]
    assert ops.count("quantized::conv2d_relu") == 3  # the stem and each block's first convolution, fused
    assert ops.count("aten::quantize_per_tensor") == 1  # the input; the value leaves its head unquantized
    small = CPU_INT8_MIN_BATCH - 1  # below the batch where int8 pays: plain fp32, exactly
    p_small, v_small = ev.evaluate(obs[:small], masks[:small])
    assert np.allclose(p_small, ref_p[:small], atol=1e-6) and np.allclose(v_small, ref_v[:small], atol=1e-6)


@needs_vnni
def test_int8_calibration_must_span_the_game():
    """Calibrated on random games, a network's int8 copy stays close to fp32 on full boards;
    calibrated on opening positions alone, it clips them and drifts far further."""
    from games.random_play import random_game_observations

    game = games.make("go(size=5)")
    net = _trained_like_net(game)
    obs, masks = _positions(game, 256, seed=3)
    ref_p, ref_v = NetworkEvaluator(net, "cpu", cache_size=0, precision="fp32").evaluate(obs, masks)
    errors = {}
    openings = np.stack([game.new_initial_state().observation()] * 64)
    for name, calibration in (("random games", random_game_observations(game, 512, seed=4)), ("openings", openings)):
        ev = NetworkEvaluator(net, "cpu", cache_size=0, precision="int8", calibration=calibration)
        p, v = ev.evaluate(obs, masks)
        errors[name] = np.abs(v - ref_v).mean() + np.abs(p - ref_p).mean()
    assert errors["random games"] < 0.01 and errors["openings"] > 3 * errors["random games"]
    with pytest.raises(ValueError, match="needs calibration positions"):
        NetworkEvaluator(net, "cpu", precision="int8")


def test_int8_is_refused_where_it_cannot_run(monkeypatch):
    import engine.nets.inference

    with pytest.raises(ValueError, match="CPU only"):
        check_precision("int8", torch.device("cuda"))
    monkeypatch.setattr(engine.nets.inference, "cpu_has_vnni", lambda: False)
    game = games.make("tictactoe")
    net = PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(1, 8))
    with pytest.raises(ValueError, match="needs a CPU with int8 dot products"):
        NetworkEvaluator(net, "cpu", precision="int8", calibration=np.zeros((4, *game.observation_shape), np.float32))


@needs_vnni
def test_checkpoint_players_take_a_precision(tictactoe_checkpoint):
    game, path = games.make("tictactoe"), tictactoe_checkpoint
    assert make_player(f"{path}:50,precision=int8", game).evaluator.precision == "int8"
    assert make_player(f"{path}:50", game).evaluator.precision == "auto"
    with pytest.raises(PlayerSpecError, match="unknown precision 'fp16'"):
        make_player(f"{path}:50,precision=fp16", game)


@needs_vnni
def test_training_with_int8_runs_and_its_error_can_be_measured(tmp_path):
    from training.config import resolve
    from training.run import Trainer

    config = resolve("tictactoe", assignments=["games_per_iteration=32", "simulations=8", "fast_simulations=8",
                                               "leaves_per_wave=1", "full_search_share=1", "continuous=false",
                                               "batch_size=32", "eval_games=0",
                                               "precision=int8", "iterations=1"])
    trainer = Trainer(config, str(tmp_path))
    try:
        first = trainer._evaluator()  # nothing in the replay window yet: random games
        assert first.int8 is not None
        metrics = trainer.iterate()
        assert metrics["positions"] > 0 and np.isfinite(metrics["policy_loss"])
        assert trainer._evaluator().int8 is not None
    finally:
        trainer.lock.release()
    errors = precision_error.compare(str(tmp_path), positions=256)  # the check a user runs on a run
    assert set(errors) >= {"int8"} and errors["int8"]["kl_mean"] > 0
    assert errors["int8"]["top_move_agrees"] > 0.8 and errors["int8"]["value_error_mean"] < 0.05
