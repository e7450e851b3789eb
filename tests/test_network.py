"""The network and its evaluator: shapes, masking and caching, the inference copy, precisions."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import games
from engine.nets.inference import NetworkEvaluator
from engine.nets.network import NetworkConfig, PolicyValueNet


@pytest.mark.parametrize("global_pool", [False, True])
def test_network_shapes(global_pool):
    game = games.make("go9")
    net = PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(2, 16, global_pool))
    logits, value = net(torch.zeros(3, *game.observation_shape))
    assert logits.shape == (3, 82) and value.shape == (3,) and bool((value.abs() <= 1).all())
    assert NetworkConfig.preset("b10c128").blocks == 10
    with pytest.raises(ValueError, match="b<blocks>c<channels>"):
        NetworkConfig.preset("huge")


def test_evaluator_masks_illegal_moves_and_caches():
    game = games.make("connect4")
    net = PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(1, 8))
    ev = NetworkEvaluator(net, "cpu")
    obs = np.stack([game.new_initial_state().observation()] * 2)
    masks = np.array([[True] * 7, [False, True, True, False, True, True, True]])
    p, v = ev.evaluate(obs, masks)
    assert np.allclose(p.sum(axis=1), 1) and p[1, 0] == 0 and p[1, 3] == 0 and np.all(np.abs(v) <= 1)
    p2, v2 = ev.evaluate(obs, masks)
    assert ev.hits == 2 and ev.positions == 2 and np.array_equal(p, p2)


def _net_with_batch_statistics(game, config):
    """A network whose batch norms hold non-trivial running statistics, as after training."""
    torch.manual_seed(0)
    net = PolicyValueNet(game.observation_shape, game.num_actions, config).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(32, *game.observation_shape) * 2 + 0.5)
    return net.eval()


@pytest.mark.parametrize("config", [NetworkConfig(2, 16), NetworkConfig(2, 16, global_pool=True)])
def test_inference_copy_computes_what_the_network_computes(config):
    from engine.nets.network import inference_copy

    game = games.make("go9")
    net = _net_with_batch_statistics(game, config)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fused = inference_copy(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(5, *game.observation_shape)
    with torch.no_grad():
        (l1, v1), (l2, v2) = net(x), fused(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(l1, l2, atol=1e-4) and torch.allclose(v1, v2, atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the original is untouched


def test_evaluator_precisions():
    from engine.nets.inference import autocast_dtype

    game = games.make("connect4")
    net = _net_with_batch_statistics(game, NetworkConfig(2, 16))
    obs = np.random.default_rng(0).random((64, *game.observation_shape), dtype=np.float32)
    masks = np.ones((64, 7), bool)
    with torch.no_grad():
        ref_logits, ref_v = net(torch.from_numpy(obs))
    ref_p = torch.softmax(ref_logits, 1).numpy()
    for precision, tol in (("fp32", 1e-5), ("bf16", 0.05), ("auto", 0.05)):
        p, v = NetworkEvaluator(net, "cpu", cache_size=0, precision=precision).evaluate(obs, masks)
        assert np.abs(p - ref_p).max() < tol and np.abs(v - ref_v.numpy()).max() < tol, precision
    ev = NetworkEvaluator(net, "cpu", cache_size=0)
    assert isinstance(ev.fp32, torch.jit.ScriptModule)  # small CPU batches run the frozen graph
    for n in (1, 3):  # traced at batch 1, it must serve any batch size
        p, v = ev.evaluate(obs[:n], masks[:n])
        assert np.abs(p - ref_p[:n]).max() < 1e-5 and np.abs(v - ref_v.numpy()[:n]).max() < 1e-5
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "fp32", 4096) is None and autocast_dtype(cpu, "bf16", 1) == torch.bfloat16
    assert autocast_dtype(cpu, "auto", 1) is None  # batch 1 never pays for bf16 casts on a CPU
    with pytest.raises(ValueError, match="unknown precision"):
        NetworkEvaluator(net, "cpu", precision="fp8")


def test_a_graph_slot_traces_once_and_carries_each_new_networks_weights():
    """A trainer builds an evaluator per iteration; through one GraphSlot they share one traced
    graph (TorchScript never frees one) whose weights are each new network's."""
    from engine.nets.network import GraphSlot

    game = games.make("connect4")
    torch.manual_seed(0)
    net = PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(2, 16)).eval()
    obs = np.random.default_rng(0).standard_normal((5, *game.observation_shape)).astype(np.float32)
    slot = GraphSlot()
    graphs = []
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1 * torch.randn_like(p))
            logits, values = net(torch.from_numpy(obs))[:2]
        evaluator = NetworkEvaluator(net, "cpu", precision="fp32", graph=slot)
        got_logits, got_values = evaluator._forward(obs)
        np.testing.assert_allclose(got_logits, logits.numpy(), atol=1e-4)
        np.testing.assert_allclose(got_values, values.numpy(), atol=1e-4)
        graphs.append(evaluator.fp32)
    assert graphs[0] is graphs[1] is graphs[2]
    other = PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(1, 8)).eval()
    assert NetworkEvaluator(other, "cpu", precision="fp32", graph=slot).fp32 is not graphs[0]  # another shape
