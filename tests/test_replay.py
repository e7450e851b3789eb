"""Replay augmentation: every sampled (observation, policy, owner) triple is the image of one
stored position under one and the same board symmetry, for every game that has symmetries.

The policy's image is computed here from the observation's transform (the policy laid out on
the board and moved with it), not from `Symmetry.action_perm`, so a permutation that disagrees
with the geometry, or a policy moved by another symmetry than its observation, fails."""

from __future__ import annotations

import numpy as np
import pytest

import games
from training.replay import ReplayBuffer

GAMES = ["tictactoe", "connect4", "gomoku(size=9)", "othello", "go(size=7)"]


def policy_image(game, sym, p: np.ndarray) -> np.ndarray:
    h, w = game.observation_shape[1:]
    if game.num_actions >= h * w:  # one action per point, then any pass
        board = sym.transform(p[: h * w].reshape(1, h, w)).reshape(-1)
        return np.concatenate([board, p[h * w:]])
    column = sym.transform(np.tile(p[None, None, :], (1, h, 1)))  # one action per column (Connect Four)
    return column[0, 0]


def stored_positions(game, n: int, rng):
    """Observations of random positions, random policies over their legal moves, distinct
    values (to tell the positions apart) and random owner maps."""
    obs, pol = [], []
    while len(obs) < n:
        s = game.new_initial_state()
        for _ in range(int(rng.integers(3, 12))):
            if s.is_terminal():
                break
            s.apply_action(int(rng.choice(s.legal_actions())))
        if s.is_terminal():
            continue
        obs.append(s.observation())
        p = rng.random(game.num_actions) * s.legal_mask()
        pol.append(p / p.sum())
    owner = rng.choice([-1.0, 1.0], (n, *game.observation_shape[1:])).astype(np.float32)
    return np.stack(obs).astype(np.float32), np.stack(pol).astype(np.float32), np.arange(n, dtype=np.float32), owner


@pytest.mark.parametrize("name", GAMES)
def test_each_sample_is_one_position_under_one_symmetry(name):
    game = games.make(name)
    syms = game.symmetries
    assert len(syms) > 1
    rng = np.random.default_rng(0)
    n = 10
    obs, pol, val, owner = stored_positions(game, n, rng)
    ownership = hasattr(game, "ownership")
    buf = ReplayBuffer(n, game.observation_shape, game.num_actions, ownership)
    buf.add(obs, pol, val, owner if ownership else None)
    o, p, v, w = buf.sample(300, np.random.default_rng(1), syms)
    used = set()
    for j in range(len(v)):
        i = int(v[j])  # the stored position this sample came from
        same = {k for k, s in enumerate(syms)
                if np.array_equal(s.transform(obs[i]), o[j]) and np.allclose(policy_image(game, s, pol[i]), p[j])
                and (not ownership or np.array_equal(s.transform(owner[i]), w[j]))}
        assert same, f"sample {j} is no image of position {i} under any single symmetry"
        if len(same) == 1:
            used |= same
    assert used == set(range(len(syms)))  # every symmetry is drawn


def test_sampling_without_symmetries_returns_stored_rows():
    game = games.make("connect4")
    obs, pol, val, _ = stored_positions(game, 5, np.random.default_rng(2))
    buf = ReplayBuffer(5, game.observation_shape, game.num_actions)
    buf.add(obs, pol, val)
    o, p, v, w = buf.sample(20, np.random.default_rng(3))
    idx = v.astype(int)
    assert w is None and np.array_equal(o, obs[idx]) and np.array_equal(p, pol[idx])
