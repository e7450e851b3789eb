"""Long training checks (`pytest -m slow`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import games
from engine.players import MinimaxPlayer, make_player


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
