"""Rollout search in one compiled call: for a native game with random-playout leaf values, the
whole search (select, the game's step, the playouts, backup) runs inside numba, with no Python
between waves. The wave-by-wave driver in mcts/search.py pays tens of microseconds of Python per
wave, which is most of the cost when a leaf is a playout of a small game.

It runs the same `select` and `backup` kernels as the driver, on the same tree, and fills the
same `Expansion` the driver would: the search is the driver's, only the loop moved. Given the
same random stream (see `RolloutEvaluator(reseed=False)`), both give identical trees
(tests/test_compiled_search.py).

The game's rules are reached through its rules tuple (`NativeGame.consts`): a NamedTuple whose
class is defined in the file of the game's kernels. numba types each such class separately, so
one cached search is compiled per game, and the overloads below call that file's `_apply`,
`_legal_mask` and `_playout`. A cached kernel that calls another file's kernels is safe only
because numba's cache is keyed by a hash of the kernel sources (games/numba_cache.py).
"""

from __future__ import annotations

import sys

import numba
import numpy as np
from numba import types
from numba.extending import overload

from games.native import OUTCOME, TERMINAL, TO_PLAY
from mcts.kernels import EXPAND, backup, select


def _kernel(rules, name: str):
    """The kernel `name` of the file that defines the rules tuple's class."""
    cls = rules.instance_class if isinstance(rules, types.BaseNamedTuple) else type(rules)
    return getattr(sys.modules[cls.__module__], name)


def rules_apply(s, a, rules):
    """Play action a in state s (in place) under `rules`."""
    return _kernel(rules, "_apply")(s, a, *rules)


def rules_legal_mask(s, mask, rules):
    """Write the legal mask of s into `mask`."""
    return _kernel(rules, "_legal_mask")(s, mask, *rules)


def rules_playout(s, rules):
    """One random playout of a copy of s from the thread's numba stream: (outcome for player 0,
    plies)."""
    return _kernel(rules, "_playout")(s, *rules)


@overload(rules_apply, jit_options={"cache": True, "nogil": True})
def _rules_apply(s, a, rules):
    if isinstance(rules, types.BaseNamedTuple):
        kernel = _kernel(rules, "_apply")
        return lambda s, a, rules: kernel(s, a, *rules[:])


@overload(rules_legal_mask, jit_options={"cache": True, "nogil": True})
def _rules_legal_mask(s, mask, rules):
    if isinstance(rules, types.BaseNamedTuple):
        kernel = _kernel(rules, "_legal_mask")
        return lambda s, mask, rules: kernel(s, mask, *rules[:])


@overload(rules_playout, jit_options={"cache": True, "nogil": True})
def _rules_playout(s, rules):
    if isinstance(rules, types.BaseNamedTuple):
        kernel = _kernel(rules, "_playout")
        return lambda s, rules: kernel(s, *rules[:])


def supports(game, evaluator) -> bool:
    """Whether a search of `game` with `evaluator` can run compiled: a native game whose rules
    tuple leads to a `_playout` kernel, and the stock random-rollout evaluator."""
    from games.native import NativeGame
    from mcts.evaluators import RolloutEvaluator

    if not isinstance(game, NativeGame) or type(evaluator) is not RolloutEvaluator:
        return False
    rules = game.consts
    module = sys.modules.get(type(rules).__module__)
    return hasattr(type(rules), "_fields") and all(hasattr(module, k) for k in ("_apply", "_legal_mask", "_playout"))


@numba.njit(cache=True, nogil=True)
def _wins_at_once(s, mask, scratch, rules):
    """Whether the player to move in s has a legal move that wins on the spot."""
    mover = s[TO_PLAY]
    for a in range(mask.shape[0]):
        if mask[a]:
            scratch[:] = s
            rules_apply(scratch, a, rules)
            if scratch[TERMINAL] != 0 and (scratch[OUTCOME] if mover == 0 else -scratch[OUTCOME]) >= 1:
                return True
    return False


@numba.njit(cache=True, nogil=True)
def rollout_search(t, p, schedule, wave, leaves, states, rules, num_rollouts, win_check, seed):
    """Run every tree of `t` to `p.num_simulations` simulations. `states` (B, N, state_size)
    holds each node's position (roots filled in); `wave` and `leaves` are scratch of the shapes
    the driver uses (B x leaves per wave, B * leaves rows). Leaf values are the mean outcome of
    `num_rollouts` random playouts (exact at terminals, and at wins in one move when
    `win_check`). The thread's numba stream is seeded with `seed` first unless it is negative."""
    if seed >= 0:
        np.random.seed(seed)
    B, K = wave.kind.shape
    scratch = np.empty(states.shape[2], np.int64)
    while t.sims_done.min() < p.num_simulations:
        select(t, p, schedule, wave)
        n = 0
        for b in range(B):
            for k in range(K):
                leaves.index[b, k] = -1
                if wave.kind[b, k] != EXPAND:
                    continue
                node = wave.node[b, k]
                s = states[b, node]
                s[:] = states[b, t.parent[b, node]]
                rules_apply(s, t.action[b, node], rules)
                mask = leaves.legal[n]
                rules_legal_mask(s, mask, rules)
                mover = s[TO_PLAY]
                terminal = s[TERMINAL] != 0
                value = float(s[OUTCOME])
                if not terminal and win_check and _wins_at_once(s, mask, scratch, rules):
                    terminal = True
                    value = 1.0 if mover == 0 else -1.0
                leaves.priors[n] = 0.0
                if not terminal:  # uniform priors, the mean playout result
                    count = 0
                    for a in range(mask.shape[0]):
                        count += mask[a]
                    for a in range(mask.shape[0]):
                        if mask[a]:
                            leaves.priors[n, a] = np.float32(1.0) / np.float32(count)
                    total = 0.0
                    for _ in range(num_rollouts):
                        outcome, _plies = rules_playout(s, rules)
                        total += outcome
                    value = total / num_rollouts
                leaves.index[b, k] = n
                leaves.to_play[n] = mover
                leaves.terminal[n] = terminal
                leaves.value[n] = value
                n += 1
        backup(t, wave, leaves)
