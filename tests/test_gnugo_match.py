"""Full 9x9 games between `move37 gtp` and GNU Go, through a small referee.

The referee keeps its own copy of the game under our rules and checks that every move either
engine makes is legal. When both pass it asks GNU Go which stones are dead; while any are, the
passes are taken back and GNU Go's cleanup move generator plays the game out for both sides
(both engines see every move). Then the two engines' area scores must agree exactly.
"""

from __future__ import annotations

import os
import sys

import pytest

import games
from engine.play.gnugo import GtpProcess, find_gnugo

GNUGO = find_gnugo()
pytestmark = pytest.mark.skipif(GNUGO is None and not os.environ.get("CI"), reason="GNU Go is not installed")


def vertex(text: str) -> str:
    return "pass" if text.lower() == "pass" else text.upper()


class Referee:
    def __init__(self, ours: GtpProcess, gnugo: GtpProcess, ours_colour: int, komi: float = 7.5):
        self.engines = {ours_colour: ours, 1 - ours_colour: gnugo}
        self.ours, self.gnugo = ours, gnugo
        self.game = games.make("go9", komi=komi)
        self.state = self.game.new_initial_state()
        for e in (ours, gnugo):
            e.ask("boardsize 9")
            e.ask("clear_board")
            e.ask(f"komi {komi:g}")

    def record(self, player: int, move: str) -> None:
        """Check a move under our rules and tell the other engine."""
        action = self.game.string_to_action(move)
        assert self.state.legal_mask()[action], f"{'BW'[player]} {move} is illegal under move37's rules"
        self.state.apply_action(action)

    def play(self, max_moves: int = 250) -> str:
        passes = 0
        while passes < 2 and len(self.state.history()) < max_moves:
            player = self.state.current_player()
            colour = "black" if player == 0 else "white"
            engine = self.engines[player]
            move = vertex(engine.ask(f"genmove {colour}" if engine is self.ours else f"kgs-genmove_cleanup {colour}"))
            if move == "RESIGN":
                return "resign"
            self.record(player, move)
            self.engines[1 - player].ask(f"play {colour} {move}")
            passes = passes + 1 if move == "pass" else 0
        return "passes" if passes == 2 else "cap"

    def play_out(self, max_moves: int = 200) -> None:
        """While GNU Go sees dead stones, undo the final passes and let it clean up for both."""
        for _ in range(5):
            if not self.gnugo.ask("final_status_list dead").strip():
                return
            for e in (self.ours, self.gnugo):
                e.ask("undo")
                e.ask("undo")
            moves = self.state.history()[:-2]
            self.state = self.game.new_initial_state()
            for a in moves:
                self.state.apply_action(a)
            passes = 0
            while passes < 2 and len(self.state.history()) < max_moves + len(moves):
                player = self.state.current_player()
                colour = "black" if player == 0 else "white"
                move = vertex(self.gnugo.ask(f"kgs-genmove_cleanup {colour}"))
                self.record(player, move)
                self.ours.ask(f"play {colour} {move}")
                passes = passes + 1 if move == "pass" else 0


@pytest.mark.parametrize("ours_colour", [0, 1])
def test_full_games_against_gnugo_are_legal_and_scored_alike(ours_colour):
    assert GNUGO is not None, "GNU Go must be installed where CI runs (apt-get install gnugo)"
    ours = GtpProcess([sys.executable, "-m", "engine.cli", "gtp", "--agent", "mcts:300", "--size", "9",
                       "--seed", str(ours_colour)])
    gnugo = GtpProcess([GNUGO, "--mode", "gtp", "--level", "1", "--chinese-rules"])
    try:
        referee = Referee(ours, gnugo, ours_colour)
        ending = referee.play()
        assert len(referee.state.history()) > 20
        if ending == "passes":
            referee.play_out()
            ours_score = ours.ask("final_score")
            gnugo_score = gnugo.ask("final_score")
            assert ours_score == gnugo_score
            assert ours_score == referee.game.result_string(referee.state)
        else:
            assert ending in ("resign", "cap")
    finally:
        ours.close()
        gnugo.close()
