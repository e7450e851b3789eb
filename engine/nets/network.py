"""The policy/value network: an AlphaZero-style residual tower with a policy and a value head.

Presets are named by size, `b{blocks}c{channels}` (b6c64, b10c128, ...). With `global_pool`,
every other block adds KataGo's global pooling bias: channel means and maxima of part of the
block's features, turned into a per-channel bias, so the network can see the whole board (who
is ahead, where the ko threats are) without stacking many blocks. With `ownership`, a third
head predicts the final owner of every point; it is trained as an auxiliary target and never
used in search (docs/METHODS.md).
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class NetworkConfig:
    blocks: int = 6
    channels: int = 64
    global_pool: bool = False
    value_hidden: int = 64
    ownership: bool = False  # KataGo's auxiliary head: who owns each point at the end (Go)

    @classmethod
    def preset(cls, name: str, **overrides) -> "NetworkConfig":
        m = re.fullmatch(r"b(\d+)c(\d+)", name.strip().lower())
        if not m or int(m.group(1)) < 1 or int(m.group(2)) < 4:
            raise ValueError(f"network size {name!r} is not of the form b<blocks>c<channels>, like b6c64.")
        return cls(blocks=int(m.group(1)), channels=int(m.group(2)), **overrides)

    @property
    def name(self) -> str:
        return f"b{self.blocks}c{self.channels}" + ("-gp" if self.global_pool else "")

    def to_dict(self) -> dict:
        return asdict(self)


class GlobalPoolingBias(nn.Module):
    """KataGo's global pooling: mean and max of `pooled` channels -> a bias on the others."""

    def __init__(self, channels: int, pooled: int):
        super().__init__()
        self.pooled = pooled
        self.fc = nn.Linear(2 * pooled, channels - pooled)

    def forward(self, x):
        g, rest = x[:, : self.pooled], x[:, self.pooled:]
        pooled = torch.cat([g.mean(dim=(2, 3)), g.amax(dim=(2, 3))], dim=1)
        return torch.cat([g, rest + self.fc(pooled)[:, :, None, None]], dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, global_pool: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pool = GlobalPoolingBias(channels, channels // 4) if global_pool else None
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        if self.pool is not None:
            y = self.pool(y)
        y = self.bn2(self.conv2(y))
        return F.relu(x + y)


class PolicyValueNet(nn.Module):
    """(N, C, H, W) observations -> (policy logits (N, A), value (N,) in [-1, 1])."""

    def __init__(self, observation_shape: tuple[int, int, int], num_actions: int, config: NetworkConfig):
        super().__init__()
        c, h, w = observation_shape
        self.observation_shape = tuple(observation_shape)
        self.num_actions = num_actions
        self.config = config
        ch = config.channels
        self.stem = nn.Sequential(nn.Conv2d(c, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(ch, config.global_pool and i % 2 == 1)
                                      for i in range(config.blocks)])
        self.policy = nn.Sequential(nn.Conv2d(ch, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                                    nn.Linear(2 * h * w, num_actions))
        self.value = nn.Sequential(nn.Conv2d(ch, 1, 1, bias=False), nn.BatchNorm2d(1), nn.ReLU(), nn.Flatten(),
                                   nn.Linear(h * w, config.value_hidden), nn.ReLU(), nn.Linear(config.value_hidden, 1),
                                   nn.Tanh())
        self.ownership = nn.Conv2d(ch, 1, 1) if config.ownership else None

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.policy(x), self.value(x).squeeze(-1)

    def forward_train(self, x):
        """(policy logits, value, ownership logits (N, H, W) or None): the heads training needs.
        Ownership in [-1, 1] is tanh of the logits."""
        x = self.blocks(self.stem(x))
        owner = self.ownership(x).squeeze(1) if self.ownership is not None else None
        return self.policy(x), self.value(x).squeeze(-1), owner


def inference_copy(net: PolicyValueNet) -> PolicyValueNet:
    """A copy for evaluation only, with every batch norm folded into the convolution before it
    (one op instead of two per layer, which matters most at batch 1; docs/METHODS.md has figures) and channels-last
    memory. The training network is left untouched, so its next optimizer step is unaffected. A
    copy of a copy is a plain copy, so an inference copy can be shipped to another process as it is."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    for module in list(net.modules()):
        if isinstance(module, ResidualBlock) and isinstance(module.bn1, nn.BatchNorm2d):
            module.conv1, module.bn1 = fuse_conv_bn_eval(module.conv1, module.bn1), nn.Identity()
            module.conv2, module.bn2 = fuse_conv_bn_eval(module.conv2, module.bn2), nn.Identity()
        elif isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i], module[i + 1] = fuse_conv_bn_eval(module[i], module[i + 1]), nn.Identity()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(memory_format=torch.channels_last)


def frozen(model: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """`model` traced on `example` and frozen: one TorchScript graph with the weights as
    constants, run without Python's per-module calls. For inference on a CPU, where those calls
    are much of the cost of a small network's forward pass; any batch size works."""
    import warnings

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer notes on shapes: every op here is batch-size generic
        return torch.jit.freeze(torch.jit.trace(model.eval(), example))


def traced(model: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """`model` traced on `example`, not frozen: one TorchScript graph run without Python's
    per-module calls, reading its weights from attributes, so new weights of the same shape can
    be copied in (GraphSlot). Any batch size works."""
    import warnings

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer notes on shapes: every op here is batch-size generic
        return torch.jit.trace(model.eval(), example)


class GraphSlot:
    """One traced graph for a run's successive networks of one shape. TorchScript never frees a
    traced graph (about 6 MB each for connect4's b4c32), so a trainer that traced every
    iteration's network afresh grew by that much per iteration; a slot traces once and copies
    each new network's weights into its graph. An evaluator built from a slot owns the graph
    until the next one is built from it."""

    def __init__(self):
        self.graph: torch.jit.ScriptModule | None = None
        self.shape: list | None = None

    def load(self, model: torch.nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
        state = model.state_dict()
        shape = [(name, tuple(t.shape), t.dtype) for name, t in state.items()]
        if self.graph is None or shape != self.shape:
            self.graph, self.shape = traced(copy.deepcopy(model), example), shape  # its own tensors
        else:
            with torch.no_grad():
                for name, tensor in self.graph.state_dict().items():
                    tensor.copy_(state[name])
        return self.graph


def default_config(game) -> NetworkConfig:
    """A size that learns the game in minutes on a CPU; larger boards get a larger tower."""
    cells = game.observation_shape[1] * game.observation_shape[2]
    if cells <= 9:
        return NetworkConfig(blocks=2, channels=32, value_hidden=32)
    if cells <= 64:
        return NetworkConfig(blocks=4, channels=64)
    return NetworkConfig(blocks=6, channels=64, global_pool=True)
