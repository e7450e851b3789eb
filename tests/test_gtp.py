"""The GTP engine: the commands, robustness against bad input, time control and analysis."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.play import players
from engine.play.gtp import GtpEngine, handicap_points


@pytest.fixture
def engine():
    return GtpEngine("mcts:64", size=9, komi=7.5, seed=0)


def ok(engine, line):
    reply = engine.handle(line)
    assert reply.startswith("="), (line, reply)
    assert reply.endswith("\n\n")
    return reply[1:].strip()


def fails(engine, line):
    reply = engine.handle(line)
    assert reply.startswith("?"), (line, reply)
    assert reply.endswith("\n\n")
    return reply[1:].strip()


BAD_LINES = [
    "frobnicate", "play", "play b", "play purple D4", "play b Z9", "play b D99", "play b A0", "play b I5",
    "genmove", "genmove green", "boardsize", "boardsize 0", "boardsize 42", "boardsize nine", "komi", "komi x",
    "komi 7.3", "fixed_handicap", "fixed_handicap 1", "fixed_handicap 10", "set_free_handicap D4",
    "set_free_handicap D4 D4", "set_free_handicap pass D4", "time_settings 1 2", "time_settings -1 0 0",
    "time_left b x 0", "loadsgf", "loadsgf /no/such/file.sgf", "undo", "known_command", "12", "\x01play\x02 b",
    "genmove_analyze", "lz-analyze nonsense",
]


@pytest.mark.parametrize("line", BAD_LINES)
def test_every_bad_line_gets_a_question_mark_and_the_engine_lives_on(engine, line):
    fails(engine, line)
    assert ok(engine, "name") == "move37"
    assert engine.running


def test_empty_lines_and_comments_are_ignored_as_the_protocol_says(engine):
    assert engine.handle("") is None and engine.handle("   \t ") is None and engine.handle("# just a comment") is None
    assert engine.handle("\x01\x02") is None  # control characters are removed, leaving an empty line
    assert ok(engine, "\x01name") == "move37"
    assert ok(engine, "protocol_version # with a comment") == "2"


def test_ids_are_echoed(engine):
    assert engine.handle("7 name") == "=7 move37\n\n"
    assert engine.handle("8 nonsense").startswith("?8 ")


def test_a_game_of_commands(engine):
    assert ok(engine, "known_command lz-analyze") == "true" and ok(engine, "known_command dance") == "false"
    commands = ok(engine, "list_commands").split("\n")
    for c in ["protocol_version", "name", "version", "known_command", "list_commands", "quit", "boardsize",
              "clear_board", "komi", "play", "genmove", "undo", "showboard", "final_score", "fixed_handicap",
              "set_free_handicap", "place_free_handicap", "time_settings", "time_left", "loadsgf", "printsgf",
              "genmove_analyze", "lz-analyze"]:
        assert c in commands
    ok(engine, "boardsize 9")
    ok(engine, "clear_board")
    ok(engine, "komi 6.5")
    ok(engine, "play black E5")
    assert fails(engine, "play white E5") == "illegal move"
    reply = ok(engine, "genmove w")
    assert reply != "E5" and (reply == "pass" or len(reply) == 2)
    assert "X" in ok(engine, "showboard") and "komi 6.5" in ok(engine, "showboard")
    ok(engine, "undo")
    assert ok(engine, "final_score") == "B+74.5"  # only E5 on the board: 81 - 6.5
    ok(engine, "undo")
    assert ok(engine, "final_score") == "W+6.5"
    fails(engine, "undo")


def test_the_same_colour_may_play_twice(engine):
    ok(engine, "play b C3")
    ok(engine, "play b G7")
    ok(engine, "play w E5")
    assert "B[cg]" in ok(engine, "printsgf") and "B[gc]" in ok(engine, "printsgf")


def test_handicap(engine):
    assert ok(engine, "fixed_handicap 4") == "C3 G7 C7 G3"
    fails(engine, "fixed_handicap 2")  # the board is not empty any more
    reply = ok(engine, "genmove w")  # white moves first after handicap
    assert reply not in ("C3", "G7", "C7", "G3")
    ok(engine, "clear_board")
    ok(engine, "boardsize 19")
    assert ok(engine, "place_free_handicap 9").split() == ["D4", "Q16", "D16", "Q4", "D10", "Q10", "K4", "K16",
                                                           "K10"]
    ok(engine, "clear_board")
    ok(engine, "set_free_handicap D4 Q16 K10")
    assert ok(engine, "printsgf").count("[") >= 3
    assert handicap_points(9, 5)[-1] == (4, 4)


def test_sgf_round_trip_through_the_engine(engine, tmp_path):
    for move in ["play b C3", "play w G7", "play b pass", "play w E5"]:
        ok(engine, move)
    path = tmp_path / "game.sgf"
    ok(engine, f"printsgf {path}")
    other = GtpEngine("random", size=19, seed=0)
    ok(other, f"loadsgf {path}")
    assert ok(other, "showboard") == ok(engine, "showboard")
    ok(other, f"loadsgf {path} 3")  # the position before move 3
    assert "move 2" in ok(other, "showboard")
    path.write_text("(;SZ[9];B[ee];W[ee])")
    assert "cannot load file" in fails(other, f"loadsgf {path}")
    assert "move 2" in ok(other, "showboard")  # a bad file changes nothing


def test_time_settings_are_respected(monkeypatch):
    """The clock is simulated (10,000 simulations a second) so the check does not depend on how
    busy the machine is: the move's budget is 0.8 s (byo-yomi, one stone), and the search stops
    at that budget, long before its simulation count, without running past it."""
    engine = GtpEngine("mcts:1000000", size=9, seed=0)  # far more simulations than the clock allows
    ok(engine, "time_settings 0 1 1")  # one second per move, byo-yomi
    ok(engine, "time_left b 1 1")
    assert engine._budget(0) == pytest.approx(0.8)
    clock = [0.0]
    real_search = players.mcts.search

    def timed_search(game, states, evaluator, config, *args):
        clock[0] += config.num_simulations / 10_000
        return real_search(game, states, evaluator, config, *args)

    monkeypatch.setattr(players.mcts, "search", timed_search)
    monkeypatch.setattr(players.time, "perf_counter", lambda: clock[0])
    ok(engine, "genmove b")
    searched = int(engine.agent.last_result.tree.tree.visits[0, 0]) - 1
    assert 0.8 <= clock[0] <= 0.81 and searched == round(clock[0] * 10_000)


def test_genmove_analyze_streams_info_then_plays(engine):
    engine.agent.config.num_simulations = 400
    lines = []

    class Out:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass

    engine.out = Out()
    reply = engine.handle("genmove_analyze b 1")
    text = "".join(lines) + reply
    assert text.startswith("=\n") and "info move" in text and " pv " in text
    assert reply.startswith("play ") and reply.endswith("\n\n")


def test_lz_analyze_streams_until_the_next_command():
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "gtp", "--agent", "mcts:500", "--size", "9"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write("lz-analyze b 5\n")
    proc.stdin.flush()
    head = [proc.stdout.readline() for _ in range(3)]  # '=', then two analysis lines, however long they take
    out, err = proc.communicate("name\nquit\n", timeout=120)
    out = "".join(head) + out
    assert out.startswith("=\n")
    infos = [line for line in out.splitlines() if line.startswith("info move")]
    assert len(infos) >= 2 and "winrate" in infos[0] and "visits" in infos[0]
    assert out.endswith("\n\n= move37\n\n=\n\n")  # analysis ended by a blank line, then the answers
    assert proc.returncode == 0 and "Traceback" not in err


def test_gtp_process_survives_garbage():
    lines = "\n".join(BAD_LINES + ["", "name", "quit"]) + "\n"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "gtp", "--agent", "random", "--size", "9"],
                          input=lines, capture_output=True, text=True, timeout=60)
    answers = [a for a in proc.stdout.split("\n\n") if a.strip()]
    assert len(answers) == len(BAD_LINES) + 2  # one per non-empty line
    assert all(a.startswith("?") for a in answers[: len(BAD_LINES)])
    assert answers[-2] == "= move37" and proc.returncode == 0 and "Traceback" not in proc.stderr


def test_gtp_cli_rejects_bad_options():
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "gtp", "--agent", "gnugo:99"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "level" in proc.stderr and "Traceback" not in proc.stderr
