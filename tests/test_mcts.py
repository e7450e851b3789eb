"""The numba search: agreement with a plain-Python reference, known answers, invariants."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import games
import mcts
import reference_mcts as ref


class HashEvaluator:
    """Deterministic pseudo-random priors and values, a function of the observation only."""

    def evaluate(self, observations, legal_masks, states=None):
        n, a = legal_masks.shape
        priors = np.empty((n, a), np.float32)
        values = np.empty(n, np.float32)
        for i in range(n):
            seed = int.from_bytes(hashlib.blake2b(observations[i].tobytes(), digest_size=8).digest(), "little")
            r = np.random.default_rng(seed)
            priors[i] = r.random(a) + 0.01
            values[i] = r.uniform(-0.9, 0.9)
        return priors, values


def play(game, moves):
    s = game.new_initial_state()
    for m in moves:
        s.apply_action(game.string_to_action(m))
    return s


@pytest.mark.parametrize(
    "name, moves, sims",
    [("connect4", [], 300), ("connect4", ["d", "d", "c", "e"], 400), ("tictactoe", [], 500),
     ("tictactoe", ["b2", "a1"], 300), ("go(size=5)", ["C3"], 300), ("othello", [], 200)],
)
def test_identical_visit_counts_to_the_reference(name, moves, sims):
    game = games.make(name)
    state = play(game, moves)
    ev = HashEvaluator()
    expected = ref.root_visits(ref.run(state, ev, sims), game.num_actions)
    result = mcts.search(game, [state], ev, mcts.SearchConfig(num_simulations=sims), rng=0)
    np.testing.assert_array_equal(result.visit_counts[0], expected)


def test_identical_visit_counts_to_the_reference_with_a_solved_root():
    game = games.make("tictactoe")
    state = play(game, ["a1", "b2", "a2", "a3"])  # X must block at c1; the game is a proven draw
    ev = HashEvaluator()
    root = ref.run(state, ev, 3000)
    result = mcts.search(game, [state], ev, mcts.SearchConfig(num_simulations=3000), rng=0)
    np.testing.assert_array_equal(result.visit_counts[0], ref.root_visits(root, 9))
    assert root.solved and root.solved_value == 0.0 and root.visits < 3000  # stopped once proven
    assert result.tree.tree.solved[0, 0] and result.tree.tree.visits[0, 0] == root.visits
    assert result.root_value[0] == 0.0 and game.action_to_string(result.action[0]) == "c1"


@pytest.mark.parametrize(
    "name, moves, answers, why",
    [
        ("tictactoe", ["a1", "b1", "a2", "b2"], {"a3"}, "win at once"),
        ("tictactoe", ["a1", "b2", "c3", "a3"], {"c1"}, "block: the only move that does not lose"),
        ("connect4", ["d", "a", "d", "a", "d"], {"d"}, "block a vertical three"),
        ("connect4", ["d", "d", "e", "e", "f", "f"], {"c", "g"}, "win with a horizontal four"),
        ("connect4", ["c", "b", "d", "a", "e"], {"f"}, "block the open end of a three"),
    ],
)
def test_mcts_2000_finds_forced_wins_and_necessary_blocks(name, moves, answers, why):
    game = games.make(name)
    state = play(game, moves)
    result = mcts.search(game, [state], mcts.RolloutEvaluator(game, seed=1), mcts.SearchConfig(num_simulations=2000),
                         rng=1)
    assert game.action_to_string(result.action[0]) in answers, why


@pytest.mark.parametrize("name", ["tictactoe", "connect4", "go(size=5)", "othello"])
@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), plies=st.integers(0, 6), sims=st.integers(2, 120),
       leaves=st.integers(1, 8))
def test_search_invariants(name, algorithm, seed, plies, sims, leaves):
    game = games.make(name)
    rng = np.random.default_rng(seed)
    states = []
    for _ in range(3):
        s = game.new_initial_state()
        for _ in range(plies):  # random moves, stopping before one that would end the game
            nxt = s.child(int(rng.choice(s.legal_actions())))
            if nxt.is_terminal():
                break
            s = nxt
        states.append(s)
    config = mcts.SearchConfig(num_simulations=sims, algorithm=algorithm, leaves_per_wave=leaves,
                               dirichlet_fraction=0.25 if algorithm == "puct" else 0.0)
    result = mcts.search(game, states, mcts.RolloutEvaluator(game, seed=seed), config, rng=seed)
    t = result.tree.tree
    for b, s in enumerate(states):
        legal = s.legal_mask()
        visits = result.visit_counts[b]
        assert np.all(visits[~legal] == 0)
        if not t.solved[b, 0]:
            assert visits.sum() == sims
        else:
            assert visits.sum() <= sims
        assert legal[result.action[b]]
        assert abs(result.policy_target[b].sum() - 1.0) < 1e-5
        assert np.all(result.policy_target[b][~legal] == 0)
        n = t.num_nodes[b]
        q = t.value_sum[b, :n] / np.maximum(t.visits[b, :n], 1)
        assert np.all(np.abs(q) <= 1 + 1e-9) and abs(result.root_value[b]) <= 1
        assert t.visits[b, 0] == visits.sum() + 1  # no virtual visit left behind
    assert np.all(t.sims_done == sims)


class BanditEvaluator:
    """Empty tic-tac-toe as a 9-armed bandit: arm a (X's first move) is worth q[a] to X."""

    def __init__(self, prior, q):
        self.prior, self.q = np.asarray(prior, np.float32), np.asarray(q, np.float32)

    def evaluate(self, observations, legal_masks, states=None):
        n = len(observations)
        priors = np.tile(self.prior, (n, 1))
        values = np.zeros(n, np.float32)
        for i, obs in enumerate(observations):
            x_stones = np.flatnonzero(obs[1].ravel())  # O to move: plane 1 holds X's stones
            if len(x_stones) == 1 and obs[0].sum() == 0:
                values[i] = -self.q[x_stones[0]]  # from O's view
        return priors, values


def test_gumbel_with_4_simulations_picks_the_best_arm_most_of_the_time():
    prior = [0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05, 0.03, 0.02]
    q = [0.0, 0.9, -0.5, 0.1, 0.2, -0.2, 0.0, 0.1, -0.3]  # arm 1: best, not the prior's favourite
    game = games.make("tictactoe")
    ev = BanditEvaluator(prior, q)
    config = mcts.SearchConfig(num_simulations=4, algorithm="gumbel", max_considered=4)
    picks = [int(mcts.search(game, [game.new_initial_state()], ev, config, rng=seed).action[0]) for seed in range(300)]
    # planning with 4 simulations finds arm 1 most of the time; sampling the prior would pick it 20%
    assert picks.count(1) / len(picks) > 0.5


def test_gumbel_without_noise_keeps_the_prior_favourite_if_it_is_best():
    game = games.make("tictactoe")
    ev = BanditEvaluator([0.5] + [0.0625] * 8, [0.9] + [0.0] * 8)
    config = mcts.SearchConfig(num_simulations=2, algorithm="gumbel", gumbel_scale=0.0)
    assert mcts.search(game, [game.new_initial_state()], ev, config, rng=0).action[0] == 0


def test_tree_reuse_keeps_the_subtree():
    game = games.make("connect4")
    state = game.new_initial_state()
    ev = mcts.RolloutEvaluator(game, seed=0)
    config = mcts.SearchConfig(num_simulations=400)
    first = mcts.search(game, [state], ev, config, rng=0)
    a = int(first.action[0])
    t = first.tree.tree
    kept = int(t.visits[0, t.children[0, 0, a]])
    first.tree.advance(0, a)
    state.apply_action(a)
    second = mcts.search(game, [state], ev, config, rng=0, tree=first.tree)
    assert second.tree.tree.visits[0, 0] == kept + 400
    # a position the tree does not hold starts fresh
    other = play(game, ["a"])
    third = mcts.search(game, [other], ev, config, rng=0, tree=second.tree)
    assert third.tree.tree.visits[0, 0] == 401


@pytest.mark.parametrize("name", ["connect4", "openspiel:connect_four"])
def test_selected_trees_follow_their_games_and_new_rows_start_fresh(name):
    game = games.make(name)
    states = [play(game, [m]) for m in ("0", "1", "2")]
    ev = mcts.RolloutEvaluator(game, seed=0)
    config = mcts.SearchConfig(num_simulations=100)
    first = mcts.search(game, states, ev, config, rng=0)
    kept = []
    for b, s in enumerate(states):
        a = int(first.action[b])
        t = first.tree.tree
        kept.append(int(t.visits[b, t.children[b, 0, a]]))
        first.tree.advance(b, a)
        s.apply_action(a)
    picked = first.tree.select([2, -1, 0])
    second = mcts.search(game, [states[2], play(game, ["3"]), states[0]], ev, config, rng=0, tree=picked)
    assert second.tree.tree.visits[:, 0].tolist() == [kept[2] + 100, 101, kept[0] + 100]
    assert first.tree.tree.batch == 3  # the source trees are untouched


def test_openspiel_games_use_the_same_kernels():
    game = games.make("openspiel:tic_tac_toe")
    s = game.new_initial_state()
    for a in [0, 4, 1]:  # x(0,0) o(1,1) x(0,1): o must block at 2
        s.apply_action(a)
    result = mcts.search(game, [s], mcts.RolloutEvaluator(game, seed=0), mcts.SearchConfig(num_simulations=1500),
                         rng=0)
    assert result.action[0] == 2


def test_bad_input():
    game = games.make("tictactoe")
    with pytest.raises(ValueError, match="num_simulations"):
        mcts.SearchConfig(num_simulations=0)
    with pytest.raises(ValueError, match="algorithm"):
        mcts.SearchConfig(algorithm="alphabeta")
    done = play(game, ["a1", "b1", "a2", "b2", "a3"])
    with pytest.raises(ValueError, match="finished"):
        mcts.search(game, [done], mcts.UniformEvaluator())



class BlindEvaluator:
    """A network with a blind spot: column g gets almost no prior and every value is 0."""

    def evaluate(self, observations, legal_masks, states=None):
        priors = legal_masks.astype(np.float32)
        priors[:, 6] *= 1e-4
        return priors, np.zeros(len(legal_masks), np.float32)


@pytest.mark.parametrize("name", ["connect4", "openspiel:connect_four"])
def test_win_check_repairs_a_blind_spot_for_winning_and_blocking(name):
    game = games.make(name)
    game.wins_in_one_move = True  # native k-in-a-row games say so; here the OpenSpiel twin too
    # O holds three on the bottom row (d1, e1, f1) with g1 open; b1 and c1 are X's
    moves = "2 5 1 3 1 3 3 5 3 4".split()  # columns c f b d b d d f d e
    block = play(game, moves)  # X to move: only g holds
    win = play(game, moves + ["4"])  # X did not block: O wins at g
    blind = mcts.SearchConfig(num_simulations=64, leaves_per_wave=2)
    found = mcts.search(game, [block, win], BlindEvaluator(), blind, rng=0)
    assert found.action.tolist() != [6, 6]  # the blind spot decides without the check
    checked = mcts.search(game, [block, win], BlindEvaluator(), dataclasses.replace(blind, win_check=True), rng=0)
    assert checked.action.tolist() == [6, 6]
    np.testing.assert_array_equal(checked.policy_target[1], np.eye(7, dtype=np.float32)[6])  # a proven win
    assert checked.root_value[1] == 1.0
    t = checked.tree.tree
    for a in range(6):  # every other move lets O win next move, and the search proved it
        child = t.children[0, 0, a]
        assert child >= 0 and t.solved[0, child] and t.solved_value[0, child] == -1.0  # player 1 (O) wins
    checked.tree.advance(0, 0)  # such a node has nothing searched below it: tree reuse starts afresh
    assert not checked.tree.valid[0]


def test_win_check_leaves_games_without_one_move_wins_alone():
    game = games.make("go(size=5)")
    state = play(game, ["C3"])
    ev = HashEvaluator()
    plain = mcts.search(game, [state], ev, mcts.SearchConfig(num_simulations=200), rng=0)
    checked = mcts.search(game, [state], ev, mcts.SearchConfig(num_simulations=200, win_check=True), rng=0)
    np.testing.assert_array_equal(plain.visit_counts, checked.visit_counts)


GUMBEL_CASES = [("tictactoe", [], 60, 16, 1), ("tictactoe", ["b2", "a1"], 100, 4, 1), ("connect4", ["d", "d", "c"], 200, 16, 1),
                ("connect4", [], 150, 4, 4), ("go(size=5)", ["C3"], 120, 8, 1), ("othello", [], 64, 16, 8)]


@pytest.mark.parametrize("name, moves, sims, considered, leaves", GUMBEL_CASES)
def test_gumbel_identical_to_the_reference(name, moves, sims, considered, leaves):
    """Gumbel-top-k root noise, sequential halving, completed Q and deterministic selection
    below the root, compared visit for visit with the plain-Python reference (same seed)."""
    game = games.make(name)
    state = play(game, moves)
    ev = HashEvaluator()
    root = ref.run(state, ev, sims, algorithm="gumbel", rng=np.random.default_rng(7), max_considered=considered,
                   leaves_per_wave=leaves)
    config = mcts.SearchConfig(num_simulations=sims, algorithm="gumbel", max_considered=considered,
                               leaves_per_wave=leaves)
    result = mcts.search(game, [state], ev, config, rng=7)
    expected = ref.root_visits(root, game.num_actions)
    np.testing.assert_array_equal(result.visit_counts[0], expected)
    assert (expected > 0).sum() > 1  # a real spread, not one arm
    np.testing.assert_allclose(result.policy_target[0], ref.improved_policy(root, 50.0, 1.0), atol=1e-6)
    best = ref.gumbel_root(root, root.gumbel, int(expected.max()), 50.0, 1.0)
    assert result.action[0] == int(np.argmax(best))


@pytest.mark.parametrize("name, moves, sims, leaves", [("connect4", [], 300, 4), ("tictactoe", ["b2"], 200, 8),
                                                      ("go(size=5)", [], 150, 16), ("othello", ["d3"], 120, 3)])
def test_waves_of_several_leaves_with_dirichlet_noise_identical_to_the_reference(name, moves, sims, leaves):
    """Several leaves per wave (virtual loss, collisions, backup in order) and Dirichlet noise
    at the root, compared visit for visit with the plain-Python reference."""
    game = games.make(name)
    state = play(game, moves)
    ev = HashEvaluator()
    root = ref.run(state, ev, sims, leaves_per_wave=leaves, rng=np.random.default_rng(11), dirichlet_fraction=0.25)
    config = mcts.SearchConfig(num_simulations=sims, leaves_per_wave=leaves, dirichlet_fraction=0.25)
    result = mcts.search(game, [state], ev, config, rng=11)
    np.testing.assert_array_equal(result.visit_counts[0], ref.root_visits(root, game.num_actions))
    assert result.tree.tree.visits[0, 0] == root.visits
    plain = mcts.search(game, [state], ev, mcts.SearchConfig(num_simulations=sims, leaves_per_wave=leaves), rng=11)
    assert not np.array_equal(plain.visit_counts[0], result.visit_counts[0])  # the noise mattered
