"""Long training checks (`pytest -m slow`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import games
from engine.play.players import MinimaxPlayer
from engine.play.specs import make_player


def reachable_states(game):
    seen, out, stack = set(), [], [game.new_initial_state()]
    while stack:
        s = stack.pop()
        key = s.array[5:].tobytes()  # the board (the player to move follows from it)
        if key in seen or s.is_terminal():
            continue
        seen.add(key)
        out.append(s)
        stack.extend(s.child(int(a)) for a in s.legal_actions())
    return out


def optimal_share(game, agent, states) -> tuple[float, list]:
    exact = MinimaxPlayer(game)
    wrong = []
    for s in states:
        values = exact.action_values(s)
        agent.new_game()
        a = agent.select_action(s.clone())
        if values[a] < max(values.values()):
            wrong.append((s.history(), a))
    return 1 - len(wrong) / len(states), wrong


@pytest.mark.slow
def test_tictactoe_default_training_plays_every_reachable_position_optimally(tmp_path):
    run = tmp_path / "ttt"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "train", "tictactoe", "--run-dir", str(run)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    game = games.make("tictactoe")
    states = reachable_states(game)
    assert len(states) == 4520  # reachable positions with a move to make
    share, wrong = optimal_share(game, make_player(str(run), game), states)
    assert not wrong, f"{len(wrong)} positions played suboptimally, e.g. {wrong[:3]}"


@pytest.mark.slow
def test_go9_trains_end_to_end(tmp_path):
    import json

    run = tmp_path / "go9"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "train", "go9", "--run-dir", str(run), "minutes=0",
                           "iterations=2", "games_per_iteration=8", "simulations=16", "fast_simulations=8",
                           "eval_games=2", "eval_simulations=16", "eval_opponents=random,best", "network=b2c16"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in lines] == [1, 2] and lines[-1]["positions"] > 0
    game = games.make("go9")
    agent = make_player(f"{run}:32", game)
    assert game.new_initial_state().legal_mask()[agent.select_action(game.new_initial_state())]
