"""The compiled rollout search (mcts/compiled.py) against the wave-by-wave driver, and the
numba cache it relies on (games/numba_cache.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import games
import mcts
from games import numba_cache
from games.native import NativeGame
from mcts import compiled

ROOT = Path(__file__).resolve().parent.parent


def play(game, moves):
    s = game.new_initial_state()
    for m in moves:
        s.apply_action(game.string_to_action(m))
    return s


def both(game, states, config, rollouts=1, rng=0, trees=(None, None)):
    """The same search by both drivers, each with a rollout evaluator that seeds numba's
    stream once and then continues it (so both see the same playouts if they ask in the same
    order)."""
    out = []
    for tree, flag in zip(trees, (False, True)):
        ev = mcts.RolloutEvaluator(game, rollouts, seed=5, reseed=False)
        out.append(mcts.search(game, states, ev, config, rng=rng, tree=tree, compiled=flag))
    return out


def assert_same_trees(a, b):
    ta, tb = a.tree.tree, b.tree.tree
    n = int(ta.num_nodes.max())
    assert np.array_equal(ta.num_nodes, tb.num_nodes)
    for name in ("visits", "value_sum", "raw_value", "prior", "legal", "children", "parent", "action", "to_play",
                 "expanded", "solved", "solved_value"):
        np.testing.assert_array_equal(getattr(ta, name)[:, :n], getattr(tb, name)[:, :n], err_msg=name)
    np.testing.assert_array_equal(a.tree.states[:, :n], b.tree.states[:, :n])
    np.testing.assert_array_equal(a.visit_counts, b.visit_counts)
    np.testing.assert_array_equal(a.action, b.action)


CASES = [
    ("connect4", [], dict(num_simulations=1000)),
    ("connect4", ["d", "d", "c", "e"], dict(num_simulations=800, leaves_per_wave=7)),
    ("connect4", ["d", "a", "d", "a"], dict(num_simulations=600, win_check=True)),
    ("tictactoe", ["a1", "b2", "a2", "a3"], dict(num_simulations=3000)),  # proven before the budget is spent
    ("go(size=5)", ["C3"], dict(num_simulations=300)),
    ("go(size=5,rules=openspiel)", [], dict(num_simulations=200, leaves_per_wave=4)),
    ("othello", ["d3"], dict(num_simulations=200)),
    ("gomoku(size=7,connect=4)", [], dict(num_simulations=300, win_check=True, leaves_per_wave=3)),
    ("connect4", [], dict(num_simulations=300, algorithm="gumbel", max_considered=4)),
    ("connect4", ["d"], dict(num_simulations=400, dirichlet_fraction=0.25, leaves_per_wave=5)),
]


@pytest.mark.parametrize("name, moves, settings", CASES)
def test_compiled_search_builds_the_drivers_tree(name, moves, settings):
    """Same kernels, same expansions, same playouts in the same order: the whole tree equal."""
    game = games.make(name)
    a, b = both(game, [play(game, moves)], mcts.SearchConfig(**settings))
    assert_same_trees(a, b)
    assert a.tree.tree.visits[0, 0] > 1


def test_several_trees_and_several_rollouts_per_leaf():
    game = games.make("connect4")
    states = [play(game, m) for m in ([], ["d"], ["a", "g", "b"])]
    a, b = both(game, states, mcts.SearchConfig(num_simulations=300, leaves_per_wave=2), rollouts=3)
    assert_same_trees(a, b)
    assert len(set(map(tuple, a.visit_counts))) == 3


def test_tree_reuse_continues_alike():
    game = games.make("connect4")
    config = mcts.SearchConfig(num_simulations=400)
    state = game.new_initial_state()
    first = both(game, [state], config)
    for r in first:
        r.tree.advance(0, 3)
    state.apply_action(3)
    second = both(game, [state], config, trees=(first[0].tree, first[1].tree))
    assert_same_trees(*second)
    assert second[1].tree.tree.visits[0, 0] > 401  # the kept subtree's visits were carried over


def test_compiled_is_what_rollout_search_uses_and_others_are_left_to_the_driver():
    for name in ("connect4", "tictactoe", "gomoku", "go9", "othello"):
        game = games.make(name)
        assert isinstance(game, NativeGame) and compiled.supports(game, mcts.RolloutEvaluator(game))
        assert not compiled.supports(game, mcts.UniformEvaluator())
    hex_game = games.make("openspiel:hex(board_size=5)")
    assert not compiled.supports(hex_game, mcts.RolloutEvaluator(hex_game))
    # a compiled search and a forced driver search differ in nothing but speed: both find the win
    game = games.make("connect4")
    state = play(game, ["d", "d", "e", "e", "f", "f"])
    for flag in (True, False):
        result = mcts.search(game, [state], mcts.RolloutEvaluator(game, seed=1), mcts.SearchConfig(num_simulations=500),
                             rng=0, compiled=flag)
        assert game.action_to_string(result.action[0]) in {"c", "g"}


def test_a_negative_seed_continues_the_playout_stream():
    game = games.make("connect4")
    states = np.stack([play(game, m).array for m in ([], ["d"], ["a", "b"], ["g"])] * 3)
    whole = game.playout_outcomes(states, 9)
    first = game.playout_outcomes(states[:5], 9)
    rest = game.playout_outcomes(states[5:], -1)
    np.testing.assert_array_equal(whole, np.concatenate([first, rest]))
    assert not np.array_equal(whole[5:], game.playout_outcomes(states[5:], 9))


def test_the_cache_directory_is_keyed_by_the_sources(tmp_path):
    copy = tmp_path / "src"
    for package in numba_cache.PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    before = numba_cache.sources_hash(copy)
    assert before == numba_cache.sources_hash(ROOT)
    kernels = copy / "games" / "mnk.py"
    kernels.write_text(kernels.read_text() + "\n# an edit\n")
    assert numba_cache.sources_hash(copy) != before
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    code = ("import numba, mcts; from mcts import kernels; print(numba.config.CACHE_DIR); "
            "print(getattr(kernels.select, '_cache', None) and kernels.select._cache._cache_path)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    where, kernel_cache = out.stdout.split()
    assert Path(where) == tmp_path / "cache" / "move37" / "numba" / before
    if not numba.config.DISABLE_JIT:  # without the JIT there is no kernel cache
        assert Path(kernel_cache).is_relative_to(where)


def test_old_versions_caches_are_pruned(tmp_path):
    current, recent, old = (tmp_path / name for name in ("current", "recent", "old"))
    for d in (current, recent, old):
        d.mkdir()
        (d / "kernel.nbi").write_text("x")
    month_ago = os.path.getmtime(current) - 40 * 86400
    os.utime(old, (month_ago, month_ago))
    os.utime(current, (month_ago, month_ago))  # the version in use is touched, never removed
    numba_cache._prune(current)
    assert current.exists() and recent.exists() and not old.exists()


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(["connect4", "tictactoe", "go(size=5)", "othello"]), plies=st.integers(0, 8),
       seed=st.integers(0, 2**16), sims=st.integers(1, 150), leaves=st.integers(1, 6),
       algorithm=st.sampled_from(["puct", "gumbel"]), win_check=st.booleans())
def test_compiled_equals_the_driver_from_random_positions(name, plies, seed, sims, leaves, algorithm, win_check):
    game = games.make(name)
    rng = np.random.default_rng(seed)
    state = game.new_initial_state()
    for _ in range(plies):
        if state.is_terminal():
            break
        child = state.child(int(rng.choice(state.legal_actions())))
        if child.is_terminal():
            break
        state = child
    config = mcts.SearchConfig(num_simulations=sims, leaves_per_wave=leaves, algorithm=algorithm, win_check=win_check,
                               max_considered=4)
    assert_same_trees(*both(game, [state], config, rng=seed))
