"""A value head for a language-model policy: a scalar in [-1, 1] read off the model's last hidden
state at the end of a prefix, the expected checked outcome of a solution continued from there.

It lives in a side file of the model directory, `value_head.safetensors`, so the directory stays
a standard one that transformers, TRL and vLLM load unchanged (they ignore the file). A
directory without the file has no value head, and the search then takes its leaf values from
rollouts; expert iteration (training/expert.py) writes the file once it has trained the head.
The head is a linear probe on the hidden state (the transformer itself is trained only by the
language-model loss), which keeps the value's training from disturbing the policy.
"""

from __future__ import annotations

import os

import torch

FILE = "value_head.safetensors"


class ValueHead(torch.nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)  # an untrained head says 0: no opinion

    def forward(self, hidden_last: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(hidden_last.float()))[..., 0]


def load_value_head(directory: str | None, hidden: int, device) -> ValueHead | None:
    path = os.path.join(directory, FILE) if directory else None
    if not path or not os.path.isfile(path):
        return None
    from safetensors.torch import load_file

    head = ValueHead(hidden)
    head.load_state_dict(load_file(path))
    return head.to(device).eval()


def save_value_head(head: ValueHead, directory: str) -> None:
    from safetensors.torch import save_file

    tmp = os.path.join(directory, FILE + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, tmp)
    os.replace(tmp, os.path.join(directory, FILE))
