"""`move37 play` driven as a person would, through a pseudo-terminal."""

from __future__ import annotations

import io
import sys

import pexpect
import pytest

PROMPT = "your move> "
END = ["You win!", "You lose.", "Draw.", "You resigned: you lose.", "You win by resignation!"]


def spawn(*args, cwd):
    log = io.StringIO()
    child = pexpect.spawn(sys.executable, ["-m", "engine.cli", "play", *args], encoding="utf-8", timeout=90,
                          cwd=str(cwd), dimensions=(60, 200))
    child.logfile_read = log
    return child, log


def test_connect4_garbage_illegal_undo_hint_and_a_finished_game(tmp_path):
    child, log = spawn("connect4", "--agent", "mcts:200", "--seed", "3", cwd=tmp_path)
    child.expect(PROMPT)
    child.sendline("flurb")
    child.expect("is not a column")
    child.expect(PROMPT)
    child.sendline("d")
    child.expect("mcts:200 plays")
    child.expect(PROMPT)
    child.sendline("hint")
    child.expect("suggests:")
    child.expect("of visits")
    child.expect(PROMPT)
    child.sendline("undo")
    child.expect(PROMPT)
    child.sendline("undo")  # back at the start: nothing more to take back
    child.expect("Nothing to undo")
    columns = iter("abcdefg" * 12)  # play the game out, skipping full columns
    while True:
        i = child.expect([PROMPT, *END, pexpect.EOF])
        if i != 0:
            break
        child.sendline(next(columns))
        if child.expect(["is not legal here", "plays", *END]) >= 2:
            break
    child.expect(pexpect.EOF)
    text = log.getvalue()
    assert any(e in text for e in END)
    assert "Traceback" not in text


def test_an_illegal_move_is_refused_and_asked_again(tmp_path):
    child, log = spawn("tictactoe", "--agent", "mcts:50", "--seed", "1", cwd=tmp_path)
    child.expect(PROMPT)
    child.sendline("b2")
    child.expect("mcts:50 plays")
    child.expect(PROMPT)
    child.sendline("b2")  # the square is taken
    child.expect("b2 is not legal here; try another move.")
    child.expect(PROMPT)  # asked again, the game goes on
    child.sendline("quit")
    child.expect(pexpect.EOF)
    assert "Traceback" not in log.getvalue()


def test_go9_garbage_illegal_undo_hint_resign_and_record(tmp_path):
    child, log = spawn("go9", "--agent", "mcts:200", "--seed", "1", cwd=tmp_path)
    child.expect("Agent: mcts:200")
    child.expect(PROMPT)
    child.sendline("hello there")
    child.expect("is not a point")
    child.expect(PROMPT)
    child.sendline("E5")
    child.expect("plays")
    child.expect(PROMPT)
    child.sendline("E5")
    child.expect("E5 is not legal here")
    child.expect(PROMPT)
    child.sendline("undo")
    child.expect(PROMPT)
    child.sendline("hint")
    child.expect("suggests:")
    child.expect(PROMPT)
    child.sendline("C3")
    child.expect("plays")
    child.expect(PROMPT)
    child.sendline("resign")
    child.expect("You resigned: you lose.")
    child.expect("Game saved to (records/go9-[0-9-]+\\.sgf)")
    path = tmp_path / child.match.group(1)
    child.expect(pexpect.EOF)
    assert "Traceback" not in log.getvalue()
    record = path.read_text()
    assert "SZ[9]" in record and "RE[W+R]" in record and ";B[cg]" in record


def test_go_from_an_sgf_position_and_a_finished_game_by_passing(tmp_path):
    sgf = tmp_path / "start.sgf"
    # Black owns the left five columns, White the right four; Black to move
    sgf.write_text("(;SZ[9]KM[7.5]AB" + "".join(f"[e{c}]" for c in "abcdefghi") +
                   "AW" + "".join(f"[f{c}]" for c in "abcdefghi") + "PL[B])")
    child, log = spawn("go9", "--agent", "mcts:100", "--sgf", str(sgf), "--save-sgf", "", cwd=tmp_path)
    child.expect(PROMPT)
    child.sendline("pass")
    i = child.expect(["plays pass", "plays"])
    if i == 1:  # the agent went on playing: keep passing until the game ends
        while child.expect([PROMPT, "Area:"]) == 0:
            child.sendline("pass")
    else:
        child.expect("Area:")
    child.expect(pexpect.EOF)
    text = log.getvalue()
    assert "komi 7.5" in text and "Traceback" not in text
    assert any(e in text for e in END)


@pytest.mark.parametrize("args, message", [
    (["go9", "--sgf", "/no/such.sgf"], "cannot read SGF file"),
    (["connect4", "--sgf", "x.sgf"], "Go positions"),
    (["connect4", "--agent", "random", "--sims", "10"], "--sims applies to search agents"),
])
def test_bad_play_options(tmp_path, args, message):
    child, log = spawn(*args, cwd=tmp_path)
    child.expect(pexpect.EOF)
    child.close()
    assert message in log.getvalue() and "Traceback" not in log.getvalue()
    assert child.exitstatus == 2
