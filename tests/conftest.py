"""Fixtures shared by the test modules."""

import pytest

from engine.nets import checkpoint
from engine.nets.network import NetworkConfig, PolicyValueNet


def save_tictactoe_checkpoint(path) -> str:
    """A checkpoint of an untrained one-block tic-tac-toe network at `path`."""
    net = PolicyValueNet((3, 3, 3), 9, NetworkConfig(1, 8))
    checkpoint.save(str(path), {"model": net.state_dict(), "meta": {"game": "tictactoe",
                    "network": NetworkConfig(1, 8).to_dict(), "observation_shape": [3, 3, 3], "num_actions": 9}})
    return str(path)


@pytest.fixture
def tictactoe_checkpoint(tmp_path) -> str:
    return save_tictactoe_checkpoint(tmp_path / "ttt.pt")
