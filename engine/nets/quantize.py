"""An int8 copy of the inference network for CPUs with int8 dot-product instructions (VNNI).

On such a CPU an int8 convolution does twice the multiply-adds of bf16 per instruction, and
large self-play batches are bound by exactly that arithmetic. The copy is made by post-training
quantization (torch's FX graph mode, x86 backend): weights per output channel, activations per
tensor with ranges observed on a calibration batch of positions. The policy and value heads
stay in fp32: they are a small share of the work and most of the error. Each convolution is
fused with its ReLU, and the result is a frozen TorchScript graph: at a self-play wave of a
small tower, separate ReLU passes and Python's per-module calls cost a sixth of the forward
pass (docs/METHODS.md).

Calibration positions must span the game: ranges observed on opening positions alone clip the
activations of full boards (a Go 9x9 network's value error grew from 0.014 to 0.35 that way).
Positions from the run's replay window are best; positions from random games do nearly as well
and are what a checkpoint without its run gets. docs/METHODS.md
("int8 inference") has the speed, the error against fp32 and the strength.
"""

from __future__ import annotations

import warnings

import torch

from engine.nets.network import frozen


def int8_copy(model: torch.nn.Module, calibration: torch.Tensor) -> torch.nn.Module:
    """`model` (an fp32 inference copy, left untouched) quantized to int8, with activation
    ranges taken from `calibration`, a batch of observations like those it will see."""
    import copy

    with warnings.catch_warnings():  # torch marks its FX quantization API as moving elsewhere
        warnings.simplefilter("ignore")
        from torch.ao.quantization import QConfig, get_default_qconfig_mapping
        from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        torch.backends.quantized.engine = "x86"
        qconfig = QConfig(activation=MinMaxObserver.with_args(reduce_range=False),
                          weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8,
                                                                    qscheme=torch.per_channel_symmetric))
        mapping = get_default_qconfig_mapping("x86").set_global(qconfig)
        for head in ("policy", "value", "ownership"):
            mapping = mapping.set_module_name(head, None)
        mapping = mapping.set_object_type("squeeze", None)  # the value leaves the head in fp32
        calibration = calibration.float().contiguous(memory_format=torch.channels_last)
        prepared = prepare_fx(_without_identities(copy.deepcopy(model).eval()), mapping, (calibration[:1],))
        with torch.inference_mode():
            prepared(calibration)
        return frozen(convert_fx(prepared), calibration[:32])


def _without_identities(model: torch.nn.Module) -> torch.fx.GraphModule:
    """`model` as an FX graph without the identities that folded batch norms left behind, so
    each convolution meets its ReLU and the two fuse into one quantized op."""
    graph_module = torch.fx.symbolic_trace(model)
    for node in list(graph_module.graph.nodes):
        if node.op == "call_module" and isinstance(graph_module.get_submodule(node.target), torch.nn.Identity):
            node.replace_all_uses_with(node.args[0])
            graph_module.graph.erase_node(node)
    graph_module.recompile()
    graph_module.delete_all_unused_submodules()
    return graph_module


