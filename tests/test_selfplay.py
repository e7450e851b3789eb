"""Self-play: openings, forks, value targets, tree reuse, continuous lockstep, threads, owners, resignation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import games
from engine.nets.inference import NetworkEvaluator
from engine.nets.network import NetworkConfig, PolicyValueNet


def test_random_openings_are_played_but_not_recorded():
    import mcts
    from training.config import TrainConfig
    from training.selfplay import opening_state, play_games

    game = games.make("connect4")
    config = TrainConfig().override(games_per_iteration=16, simulations=4, fast_simulations=4, full_search_share=1.0,
                         random_opening_share=1.0, random_opening_moves=3)
    rng = np.random.default_rng(0)
    lengths = {len(opening_state(game, config, rng).history()) for _ in range(200)}
    assert lengths == {1, 2, 3}
    empty = game.new_initial_state().observation()
    batch = play_games(game, mcts.UniformEvaluator(), config, rng)
    assert len(batch.observations) and not any(np.array_equal(o, empty) for o in batch.observations)
    plain = play_games(game, mcts.UniformEvaluator(), TrainConfig().override(games_per_iteration=4, simulations=4,
                                                                   full_search_share=1.0), rng)
    assert sum(np.array_equal(o, empty) for o in plain.observations) == 4


def test_forks_branch_off_after_a_random_move_and_record_only_searched_play():
    import mcts
    from training.config import TrainConfig
    from training.selfplay import play_games

    game = games.make("tictactoe")
    config = TrainConfig().override(games_per_iteration=8, simulations=4, fast_simulations=4, full_search_share=1.0,
                         temperature_moves=0, fork_share=0.5)
    batch = play_games(game, mcts.UniformEvaluator(), config, np.random.default_rng(1))
    assert 8 < batch.games <= 16  # forks are games of their own, at most one per original game
    assert len(batch.values) == batch.moves  # every searched move recorded, the forks' random moves not
    empty = game.new_initial_state().observation()
    assert sum(np.array_equal(o, empty) for o in batch.observations) == 8  # forks start mid-game
    plain = play_games(game, mcts.UniformEvaluator(), dataclasses.replace(config, fork_share=0.0),
                       np.random.default_rng(1))
    assert plain.games == 8


def test_value_targets_mix_the_game_result_with_the_root_value():
    import mcts
    from training.config import TrainConfig
    from training.selfplay import play_games

    game = games.make("connect4")
    config = TrainConfig().override(games_per_iteration=6, simulations=16, fast_simulations=4, full_search_share=0.5)

    def targets(share):  # the same seed plays the same games: the mix changes targets, not play
        return play_games(game, mcts.UniformEvaluator(), dataclasses.replace(config, root_value_share=share),
                          np.random.default_rng(3))

    results, roots, mixed = targets(0.0), targets(1.0), targets(0.25)
    assert set(np.unique(results.values)) <= {-1.0, 0.0, 1.0}
    assert np.array_equal(results.observations, roots.observations)
    assert np.all(np.abs(roots.values) <= 1.0) and not set(np.unique(roots.values)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_allclose(mixed.values, 0.75 * results.values + 0.25 * roots.values, atol=1e-6)
    with pytest.raises(ValueError, match="between 0 and 1"):
        config.override(root_value_share="1.5")


def test_first_player_score_is_the_first_movers_mean_result():
    import mcts
    from training.config import TrainConfig
    from training.selfplay import play_games

    game = games.make("tictactoe")
    config = TrainConfig().override(games_per_iteration=24, simulations=8, fast_simulations=8, full_search_share=1.0,
                         temperature_moves=9)
    batch = play_games(game, mcts.UniformEvaluator(), config, np.random.default_rng(5))
    empty = game.new_initial_state().observation()
    # each game's first record is the empty board, the first player to move, valued by the result
    firsts = [v for o, v in zip(batch.observations, batch.values) if np.array_equal(o, empty)]
    assert len(firsts) == 24
    expected = float(np.mean([(1.0 + v) / 2 for v in firsts]))
    assert 0.0 < expected < 1.0
    assert batch.first_player_score == pytest.approx(expected)


def test_tree_reuse_carries_visits_into_the_next_search(monkeypatch):
    import mcts
    from training.config import TrainConfig
    from training.selfplay import play_games

    searched = []
    search = mcts.search

    def counting(game, states, *args, **kwargs):
        result = search(game, states, *args, **kwargs)
        searched.append(result.visit_counts.sum(axis=1))
        return result

    monkeypatch.setattr(mcts, "search", counting)
    game = games.make("connect4")
    config = TrainConfig().override(games_per_iteration=6, simulations=16, fast_simulations=16, full_search_share=1.0,
                         leaves_per_wave=1, temperature_moves=2, fork_share=0.1)
    fresh = play_games(game, mcts.UniformEvaluator(), config, np.random.default_rng(0))
    assert all((v <= 16).all() for v in searched)
    searched.clear()
    reused = play_games(game, mcts.UniformEvaluator(), dataclasses.replace(config, tree_reuse=True),
                        np.random.default_rng(0))
    visits = np.concatenate(searched)
    assert (visits > 16).mean() > 0.5 and len(searched) > 1 and visits.max() < 16 * len(searched)
    assert reused.games > 6 and fresh.games > 6  # forks joined the batch in both
    assert len(reused.values) == reused.moves and np.isin(reused.values, [-1, 0, 1]).all()


def test_continuous_self_play_keeps_the_lockstep_full_and_carries_games_over(monkeypatch):
    import mcts
    from training.config import TrainConfig
    from training.selfplay import SelfPlay, play_games

    widths = []
    search = mcts.search

    def counting(game, states, *args, **kwargs):
        widths.append(len(states))
        return search(game, states, *args, **kwargs)

    monkeypatch.setattr(mcts, "search", counting)
    game = games.make("connect4")
    config = TrainConfig().override(games_per_iteration=8, simulations=8, fast_simulations=8, full_search_share=1.0,
                         temperature_moves=42, random_opening_share=0.0)
    selfplay, rng = SelfPlay(game, config), np.random.default_rng(0)
    batches = [selfplay.play(mcts.UniformEvaluator(), rng) for _ in range(3)]
    assert set(widths) == {8}  # every search sees the whole lockstep, to the last move of each call
    assert all(b.games >= 8 for b in batches) and np.isin(np.concatenate([b.values for b in batches]), [-1, 0, 1]).all()
    assert any(len(g.state.history()) > 0 for g in selfplay.live)  # games still running carry over
    # every searched move is recorded exactly once: in the batch of the call its game ended in,
    # or still held by a running game
    held = sum(len(g.records) for g in selfplay.live)
    assert sum(b.moves for b in batches) == sum(len(b.values) for b in batches) + held
    widths.clear()
    ended = play_games(game, mcts.UniformEvaluator(), config, np.random.default_rng(0))
    assert ended.games == 8 and widths[0] == 8 and widths[-1] < 8  # without refill the lockstep drains


def test_self_play_threads_play_their_groups_as_if_one_after_another():
    """Two groups in two threads give exactly the games the same groups give played in turn
    with the seeds the threads were handed: nothing depends on how the threads interleave."""
    import mcts
    from training.config import TrainConfig
    from training.selfplay import SelfPlay, ThreadedSelfPlay

    game = games.make("connect4")
    config = TrainConfig().override(games_per_iteration=6, simulations=8, fast_simulations=4, full_search_share=0.5,
                         temperature_moves=42, fork_share=0.05)
    threaded = ThreadedSelfPlay(game, config, refill=False, threads=2)
    batch = threaded.play(mcts.UniformEvaluator(), np.random.default_rng(3))
    seeds = np.random.default_rng(3).integers(0, 2**63, size=2)
    parts = [SelfPlay(game, dataclasses.replace(config, games_per_iteration=3), refill=False)
             .play(mcts.UniformEvaluator(), np.random.default_rng(seed)) for seed in seeds]
    assert batch.threads == 2 and batch.games == sum(p.games for p in parts) >= 6
    assert batch.moves == sum(p.moves for p in parts)
    assert np.array_equal(batch.observations, np.concatenate([p.observations for p in parts]))
    assert np.array_equal(batch.values, np.concatenate([p.values for p in parts]))
    assert np.array_equal(batch.policies, np.concatenate([p.policies for p in parts]))
    assert batch.first_player_score == pytest.approx(sum(p.first_player_score * p.games for p in parts) / batch.games)


def test_self_play_thread_count_and_evaluator_forks():
    from training.config import TrainConfig
    from training.selfplay import selfplay_threads

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    config = TrainConfig().override(games_per_iteration=128)
    assert selfplay_threads(config, cpu) == min(torch.get_num_threads(), 4)  # each group keeps 32 games
    assert selfplay_threads(TrainConfig().override(games_per_iteration=40), cpu) == 1
    assert selfplay_threads(config, gpu) == 1
    assert selfplay_threads(config.override(selfplay_threads="3"), gpu) == 3
    with pytest.raises(ValueError, match="selfplay_threads is 0"):
        config.override(selfplay_threads="-1")
    game = games.make("tictactoe")
    ev = NetworkEvaluator(PolicyValueNet(game.observation_shape, game.num_actions, NetworkConfig(1, 8)), "cpu")
    obs = game.new_initial_state().observation()[None].astype(np.float32)
    mask = np.ones((1, game.num_actions), bool)
    ev.evaluate(obs, mask)
    other = ev.fork()
    assert other.fp32 is ev.fp32 and not other.cache and other.positions == 0  # same network, own cache
    other.evaluate(obs, mask)
    other.evaluate(obs, mask)
    ev.absorb(other)
    assert (ev.positions, ev.hits, ev.calls) == (2, 1, 2) and len(ev.cache) == 1


def test_self_play_records_final_owners_from_the_movers_view():
    import mcts
    from training.config import TrainConfig
    from training.selfplay import play_games

    game = games.make("go(size=5)")
    config = TrainConfig().override(games_per_iteration=6, simulations=4, fast_simulations=4, full_search_share=1.0)
    batch = play_games(game, mcts.UniformEvaluator(), config, np.random.default_rng(0))
    assert batch.owners.shape == (len(batch.values), 5, 5) and len(batch.values) > 0
    assert set(np.unique(batch.owners)) <= {-1.0, 0.0, 1.0}
    white = batch.observations[:, 3, 0, 0] == 1  # the colour plane: ones when White moves
    lead = batch.owners.sum(axis=(1, 2)) + np.where(white, game.komi, -game.komi)  # komi is White's
    assert white.any() and (~white).any()
    np.testing.assert_array_equal(np.sign(lead), batch.values)  # the mover won exactly when its lead is positive
    assert play_games(games.make("tictactoe"), mcts.UniformEvaluator(), config, np.random.default_rng(0)).owners is None


def test_score_value_targets_keep_the_result_and_rank_margins():
    import mcts
    from training.config import TrainConfig
    from training.selfplay import SelfPlay, play_games

    game = games.make("go(size=5)")
    config = TrainConfig().override(games_per_iteration=6, simulations=4, fast_simulations=4, full_search_share=1.0)
    plain = play_games(game, mcts.UniformEvaluator(), config, np.random.default_rng(2))
    shaped = play_games(game, mcts.UniformEvaluator(), dataclasses.replace(config, score_value_share=0.5),
                        np.random.default_rng(2))
    assert np.array_equal(plain.observations, shaped.observations)  # the same games, other targets
    white = plain.observations[:, 3, 0, 0] == 1  # the colour plane: ones when White moves
    lead = plain.owners.sum(axis=(1, 2)) + np.where(white, game.komi, -game.komi)  # the mover's final margin
    assert np.all(np.sign(lead) == plain.values)
    np.testing.assert_allclose(shaped.values, 0.5 * plain.values + 0.5 * np.tanh(lead / 5), atol=1e-6)
    assert len(np.unique(np.abs(shaped.values))) > 1  # wide and narrow results are told apart
    with pytest.raises(ValueError, match="needs a game with a score"):
        SelfPlay(games.make("connect4"), dataclasses.replace(config, score_value_share=0.5))


def test_resignation_and_false_resignation_count():
    import mcts
    from training.config import TrainConfig
    from training.selfplay import play_games

    game = games.make("tictactoe")
    config = TrainConfig().override(games_per_iteration=40, simulations=8, fast_simulations=8, resign_threshold=0.5,
                         resign_playout_share=0.5)
    batch = play_games(game, mcts.UniformEvaluator(), config, np.random.default_rng(0))
    # a value-0 evaluator keeps every root below 0.5: all games resign at once except those played out
    assert 0 < batch.resigned < 40
    played_out = 40 - batch.resigned
    assert batch.would_resign == 2 * played_out  # both sides hit the threshold in every played-out game
    assert batch.false_resignations >= played_out  # at least the side that did not lose, per game
