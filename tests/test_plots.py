"""Learning-curve plots from a run directory's elo.json and metrics.jsonl."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("matplotlib")

from training.plots import elo_curve  # noqa: E402


def _run_dir(path, first_player: bool):
    result = {"wins": 7, "draws": 1, "losses": 2, "score": 0.75, "elo": 191.0, "elo_low": 20.0, "elo_high": 420.0}
    sweep = {"wins": 10, "draws": 0, "losses": 0, "score": 1.0, "elo": None, "elo_low": None, "elo_high": None}
    history = [{"iteration": 5, "elapsed_minutes": 2.0, "results": {"mcts:100": result}},
               {"iteration": 10, "elapsed_minutes": 4.0, "results": {"mcts:100": sweep}}]
    path.mkdir()
    (path / "elo.json").write_text(json.dumps(history))
    rows = [{"iteration": i, "elapsed_minutes": 0.4 * i, **({"first_player_score": 0.5 + 0.04 * i} if first_player else {})}
            for i in range(1, 11)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("first_player, panels", [(True, 3), (False, 2)])
def test_curves_add_the_first_players_self_play_score_when_the_run_logged_it(tmp_path, first_player, panels):
    run = _run_dir(tmp_path / "run", first_player)
    out = tmp_path / "curve.png"
    fig = elo_curve(str(run), str(out))
    assert len(fig.axes) == panels
    assert out.read_bytes().startswith(b"\x89PNG")
    if first_player:
        xs, ys = fig.axes[2].lines[0].get_data()
        assert list(xs) == pytest.approx([0.4 * i for i in range(1, 11)])
        assert list(ys) == pytest.approx([0.5 + 0.04 * i for i in range(1, 11)])
