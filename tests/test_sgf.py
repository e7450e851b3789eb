"""SGF: what the engine writes reads back the same; malformed files say what and where."""

from __future__ import annotations

import re

import pytest

import games
from engine.play import sgf


def test_round_trip_with_setup_moves_and_passes():
    game = games.make("go9")
    moves = [(0, game.string_to_action(m)) for m in ("E5",)] + [(1, game.pass_action), (0, game.string_to_action("C3"))]
    record = sgf.GoRecord(9, 6.5, "Chinese", "Alice [1d]", "move37", "B+R", [game.string_to_action("G7")],
                          [game.string_to_action("C7")], 0, moves)
    text = sgf.write(record)
    assert "SZ[9]" in text and "KM[6.5]" in text and "PB[Alice [1d\\]]" in text and ";W[]" in text
    back = sgf.read(text)
    assert (back.size, back.komi, back.black_name, back.white_name, back.result) == (9, 6.5, "Alice [1d]", "move37", "B+R")
    assert back.setup_black == record.setup_black and back.setup_white == record.setup_white
    assert back.moves == record.moves
    g, state = sgf.to_state(back)
    assert g.board(state)[4, 4] == 1 and g.board(state)[2, 2] == 1 and g.board(state)[6, 6] == 1
    assert state.current_player() == 1


def test_reads_variations_escapes_rectangles_and_old_passes():
    text = """(;GM[1]FF[3]SZ[9]KM[5.5]C[a comment with \\] and ( and ;]AB[aa:bb]
              ;B[ee];W[tt](;B[cc];W[dd])(;B[gg]))"""
    rec = sgf.read(text)
    assert len(rec.setup_black) == 4  # the 2x2 rectangle in the top-left corner
    assert [a for _, a in rec.moves] == [40, 81, 6 * 9 + 2, 5 * 9 + 3]  # first variation only
    game, state = sgf.to_state(rec)
    assert len(state.history()) == 4


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("(;SZ[9];B[ee]", "not closed"),
    ("(;SZ[9];B[ee", "not closed with ']'"),
    ("(;SZ[9];B[zz])", "off the 9x9 board"),
    ("(;SZ[9];B[e])", "not a point"),
    ("(;SZ[25])", "not supported"),
    ("(;SZ[nine])", "not a number"),
    ("(;GM[2]SZ[8])", "not a Go record"),
    ("SZ[9]", "expected '('"),
    ("(;SZ[9];B[ee];W[ee])", "move 2 (W E5) is illegal"),
])
def test_malformed_sgf_names_the_problem_and_place(text, fragment):
    with pytest.raises(sgf.SgfError, match=re.escape(fragment)) as info:
        game, state = sgf.to_state(sgf.read(text))
    if "line" in str(info.value):
        assert "column" in str(info.value)


def test_error_position_points_at_the_bad_value():
    with pytest.raises(sgf.SgfError, match="line 3, column 2"):  # the property holding it
        sgf.read("(;SZ[9]\n;B[ee]\n;W[zz])")


def test_load_reports_missing_files(tmp_path):
    with pytest.raises(sgf.SgfError, match="cannot read SGF file"):
        sgf.load(str(tmp_path / "nope.sgf"))
