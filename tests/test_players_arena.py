"""Players from spec strings, and the arena."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import games
from engine.play.arena import MatchResult, elo_of, play_match, play_match_lockstep
from engine.play.base import PlayerSpecError, Resigned
from engine.play.players import MCTSPlayer
from engine.play.specs import make_player


def brute_force_value(state, mover, memo=None):
    """Exact value for `mover` by full recursion (no pruning), memoised by position."""
    memo = {} if memo is None else memo
    key = (state.array.tobytes(), mover)
    if key not in memo:
        if state.is_terminal():
            memo[key] = float(state.returns()[mover])
        else:
            values = [brute_force_value(state.child(int(a)), mover, memo) for a in state.legal_actions()]
            memo[key] = max(values) if state.current_player() == mover else min(values)
    return memo[key]


def test_minimax_values_match_brute_force_on_sample_positions():
    game = games.make("tictactoe")
    player = make_player("minimax", game)
    rng = np.random.default_rng(0)
    memo: dict = {}
    for _ in range(25):
        s = game.new_initial_state()
        for _ in range(rng.integers(0, 6)):
            s.apply_action(int(rng.choice(s.legal_actions())))
        if s.is_terminal():
            continue
        mover = s.current_player()
        values = player.action_values(s)
        for a, v in values.items():
            assert v == brute_force_value(s.child(a), mover, memo)


def test_minimax_never_loses_and_draws_itself():
    game = games.make("tictactoe")
    result = play_match(game, make_player("minimax", game), make_player("random", game, seed=1), 40, 0)
    assert result.losses == 0 and result.wins > 20
    result = play_match(game, make_player("minimax", game), make_player("minimax", game), 4, 0)
    assert result.draws == 4


def test_mcts_beats_random_at_connect4():
    game = games.make("connect4")
    result = play_match(game, make_player("mcts:300", game, seed=0), make_player("random", game, seed=0), 10, 2)
    assert result.wins >= 9


def test_mcts_player_reuses_its_tree_and_notices_a_new_game():
    game = games.make("connect4")
    player = make_player("mcts:200", game, seed=0)
    assert isinstance(player, MCTSPlayer)
    s = game.new_initial_state()
    s.apply_action(player.select_action(s))
    t = player.tree.tree  # already re-rooted at our move
    reply = int(np.argmax(t.root_child_visits()[0]))  # the opponent reply the tree knows best
    kept = int(t.visits[0, t.children[0, 0, reply]])
    assert kept > 1
    s.apply_action(reply)
    player.select_action(s)
    assert player.last_result.visit_counts[0].sum() == kept - 1 + 200  # continued from the subtree
    fresh = game.new_initial_state()
    fresh.apply_action(0)
    player.select_action(fresh)  # a position it did not expect: a fresh tree
    assert player.last_result.visit_counts[0].sum() == 200


class Cheater:
    name = "cheater"

    def new_game(self):
        pass

    def select_action(self, state):
        return int(np.flatnonzero(~state.legal_mask())[0]) if (~state.legal_mask()).any() else 10**6


def test_illegal_moves_are_the_players_fault():
    game = games.make("tictactoe")
    result = play_match(game, Cheater(), make_player("random", game, seed=0), 6, 1)
    assert result.illegal_moves["a"] == 6 and result.losses == 6 and result.illegal_moves["b"] == 0


class Resigner:
    name = "resigner"

    def new_game(self):
        pass

    def select_action(self, state):
        raise Resigned()


def test_lockstep_match_plays_every_game_and_scores_faults():
    import mcts

    game = games.make("connect4")
    agent = mcts.SearchConfig(num_simulations=300, leaves_per_wave=8)
    seen = []

    def opponent(i):
        seen.append(i)
        return make_player("random", game, seed=i)

    result = play_match_lockstep(game, mcts.RolloutEvaluator(game, 1, 0), agent, "searcher", opponent, 10)
    assert seen == list(range(10)) and result.games == 10 and len(result.scores) == 10
    assert result.wins >= 9 and result.player_a == "searcher" and result.player_b == "random"
    assert result.seconds_per_move["a"] > 0
    ttt = games.make("tictactoe")
    faults = play_match_lockstep(ttt, mcts.UniformEvaluator(), agent, "a", lambda i: Cheater(), 4, 1)
    assert faults.illegal_moves == {"a": 0, "b": 4} and faults.wins == 4
    resigns = play_match_lockstep(ttt, mcts.UniformEvaluator(), agent, "a", lambda i: Resigner(), 4, 1)
    assert resigns.resignations == {"a": 0, "b": 4} and resigns.wins == 4
    counts = []
    play_match_lockstep(ttt, mcts.UniformEvaluator(), agent, "a", lambda i: make_player("random", ttt, seed=i), 6,
                        progress=lambda r: counts.append(r.games))
    assert counts == sorted(counts) and counts[-1] == 6


def test_arena_lockstep_needs_a_searching_first_player():
    cmd = [sys.executable, "-m", "engine.cli", "arena", "tictactoe", "random", "mcts:10", "--lockstep"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--lockstep needs a searching first player" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_elo_and_interval():
    assert elo_of(0.5) == 0 and elo_of(0.75) == pytest.approx(190.85, abs=0.01)
    # ten games scored 1, .5, .5, .5, 0, 1, .5, .5, 1, .5: mean 0.6, squared deviations summing to
    # 0.9, so a standard deviation of sqrt(0.9 / 9) = 0.316 and a standard error of 0.1; the
    # interval is the Elo of 0.6 -+ 0.196, i.e. of 0.404 and 0.796
    r = MatchResult("tictactoe", "a", "b", games=10, wins=3, draws=6, losses=1,
                    scores=[1, 0.5, 0.5, 0.5, 0, 1, 0.5, 0.5, 1, 0.5])
    e, lo, hi = r.elo()
    assert (e, lo, hi) == pytest.approx((70.44, -67.55, 236.51), abs=0.01)
    assert r.score == 0.6
    game = games.make("tictactoe")
    r = play_match(game, make_player("minimax", game), make_player("random", game, seed=3), 30, 0)
    assert r.losses == 0 and r.elo()[1] > 0  # minimax is measurably stronger than random


@pytest.mark.parametrize("spec, fragment", [
    ("alphago", "valid forms"), ("mcts", "simulation count"), ("mcts:-5", "at least 1"),
    ("mcts:100,warp=9", "unknown setting"), ("mcts:100,c_init=abc", "bad value"), ("minimax:x", "whole number"),
    ("openspiel-mcts", "simulation count"), ("mcts:100,win_check=maybe", "bad value"),
])
def test_bad_player_specs(spec, fragment):
    with pytest.raises(PlayerSpecError, match=fragment):
        make_player(spec, games.make("connect4"))


def test_search_settings_in_player_specs_keep_their_types():
    game = games.make("connect4")
    assert make_player("mcts:100,win_check=true,leaves_per_wave=4", game).config.win_check is True
    assert make_player("mcts:100,win_check=0", game).config.win_check is False
    assert make_player("mcts:100,leaves_per_wave=4", game).config.leaves_per_wave == 4


def test_exact_minimax_refuses_large_games():
    with pytest.raises(PlayerSpecError, match="minimax:4"):
        make_player("minimax", games.make("go9"))


def test_arena_cli_json_and_errors():
    cmd = [sys.executable, "-m", "engine.cli", "arena", "tictactoe", "minimax", "random", "--games", "6", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["games"] == 6 and data["wins"] + data["draws"] + data["losses"] == 6
    assert {"elo", "elo_low", "elo_high", "score", "illegal_moves"} <= set(data)
    proc = subprocess.run(cmd[:4] + ["connect4", "minimax", "random"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "minimax:4" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("lockstep", [[], ["--lockstep"]])
def test_arena_writes_go_games_as_sgf(tmp_path, lockstep):
    from engine.play import sgf

    cmd = [sys.executable, "-m", "engine.cli", "arena", "go(size=5)", "mcts:50", "random", "--games", "2",
           "--sgf-dir", str(tmp_path)] + lockstep
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("game_*.sgf"))
    assert len(files) == 2
    for f in files:
        record = sgf.read(f.read_text())
        game, state = sgf.to_state(record)
        assert state.is_terminal() and record.result == game.result_string(state)
    assert {sgf.read(f.read_text()).black_name for f in files} == {"mcts:50", "random"}  # colours alternate


def test_missing_gnugo_says_how_to_install_it(monkeypatch):
    import engine.play.gnugo

    monkeypatch.setattr(engine.play.gnugo, "find_gnugo", lambda: None)
    with pytest.raises(PlayerSpecError, match="apt-get install gnugo"):
        make_player("gnugo:5", games.make("go9"))
    with pytest.raises(PlayerSpecError, match="only Go"):
        make_player("gnugo", games.make("connect4"))
