"""Go positions built by hand where the rule sets differ, each with its expected outcome."""

from __future__ import annotations

import numpy as np
import pytest

import games
from games import IllegalMoveError

EMPTY_ROWS = [". . . . . . . . ."] * 5

# Three kos: A (bottom left) and C (top left) Black may take, B (bottom right) White may take.
TRIPLE_KO = [
    "X O . O . . . . .",
    ". X O . . . . . .",
    *EMPTY_ROWS,
    ". X O . . . O X .",
    "X O . O . O X . X",
]
# B takes A, W takes B, B takes C, W retakes A, B retakes B; W retaking C recreates the start.
TRIPLE_KO_CYCLE = ["C1", "H1", "C9", "B1", "G1", "B9"]

# Black throws in at B1 (two stones in atari), White captures two at D1, and Black's
# recapture of one stone at C1 recreates the position before the throw-in.
SEND_TWO_RETURN_ONE = [
    *([". . . . . . . . ."] * 7),
    ". O O X . . . . .",
    "O . X . X . . . .",
]


def setup(rules: str, diagram, moves=(), to_play=0, size=9):
    game = games.make("go", size=size, rules=rules)
    state = game.state_from_board(diagram, to_play=to_play)
    for m in moves:
        state.apply_action(game.string_to_action(m))
    return game, state


def test_triple_ko_is_forbidden_by_positional_superko():
    game, state = setup("chinese", TRIPLE_KO, TRIPLE_KO_CYCLE[:-1])
    last = game.string_to_action(TRIPLE_KO_CYCLE[-1])
    assert not state.legal_mask()[last]
    with pytest.raises(IllegalMoveError, match="B9"):
        state.apply_action(last)
    assert not state.is_terminal()
    # the first five moves were all legal captures: each removed one stone
    assert int(np.sum(game.board(state) != 0)) == int(np.sum(game.board(setup("chinese", TRIPLE_KO)[1]) != 0))


def test_triple_ko_ends_in_a_draw_under_openspiel_rules():
    game, state = setup("openspiel", TRIPLE_KO, TRIPLE_KO_CYCLE)
    assert state.is_terminal()
    assert list(state.returns()) == [0.0, 0.0]
    assert game.result_string(state) == "0"


def test_simple_ko_recapture_is_illegal_in_both_rule_sets():
    for rules in ("chinese", "openspiel"):
        game, state = setup(rules, TRIPLE_KO, ["C1"])
        assert not state.legal_mask()[game.string_to_action("B1")]  # immediate retake
        state.apply_action(game.string_to_action("E5"))
        state.apply_action(game.string_to_action("E6"))
        assert state.legal_mask()[game.string_to_action("B1")]  # after a move elsewhere it is fine


def test_sending_two_returning_one():
    game, state = setup("chinese", SEND_TWO_RETURN_ONE, ["B1", "D1"])
    assert int(np.sum(game.board(state) == 1)) == 2  # two black stones were captured
    c1 = game.string_to_action("C1")
    assert not state.legal_mask()[c1]  # would recreate the position before the throw-in

    game, state = setup("openspiel", SEND_TWO_RETURN_ONE, ["B1", "D1"])
    assert state.legal_mask()[c1]  # not a simple ko: two stones were taken
    state.apply_action(c1)
    assert state.is_terminal() and list(state.returns()) == [0.0, 0.0]


@pytest.mark.parametrize("rules", ["chinese", "openspiel"])
def test_suicide_is_illegal(rules):
    single = [*([". . . . . . . . ."] * 7), ". X . . . . . . .", "X . X . . . . . ."]
    game, state = setup(rules, single, to_play=1)
    assert not state.legal_mask()[game.string_to_action("B1")]
    multi = [*([". . . . . . . . ."] * 6), "X . . . . . . . .", "X X . . . . . . .", "O . X . . . . . ."]
    game, state = setup(rules, multi, to_play=1)
    assert not state.legal_mask()[game.string_to_action("B1")]  # White a1+b1 would have no liberty
    with pytest.raises(IllegalMoveError):
        state.apply_action(game.string_to_action("B1"))


def test_a_move_without_liberties_that_captures_is_legal():
    # Black a1 touches only white stones, but both (a2 and b1) have a1 as their last liberty.
    diagram = [*([". . . . . . . . ."] * 6), "X . . . . . . . .", "O X . . . . . . .", ". O X . . . . . ."]
    for rules in ("chinese", "openspiel"):
        game, state = setup(rules, diagram)
        state.apply_action(game.string_to_action("A1"))
        board = game.board(state)
        assert board[0, 0] == 1
        assert board[1, 0] == 0 and board[0, 1] == 0  # both white stones captured


def test_area_scoring_and_komi():
    # Black owns columns A-E (5 x 9 = 45), White F-J (36): Black leads by 9 - 7.5 = 1.5.
    diagram = [". . . . X O . . ."] * 9
    game, state = setup("chinese", diagram)
    assert game.area_score(state) == pytest.approx(45 - 36 - 7.5)
    state.apply_action(game.pass_action)
    state.apply_action(game.pass_action)
    assert state.is_terminal() and list(state.returns()) == [1.0, -1.0]
    assert game.result_string(state) == "B+1.5"


def test_move_cap_scores_the_board():
    game = games.make("go", size=5, rules="chinese", max_moves=4)
    state = game.new_initial_state()
    for m in ["C3", "pass", "B2", "pass"]:
        state.apply_action(game.string_to_action(m))
    assert state.is_terminal()
    assert list(state.returns()) == [1.0, -1.0]  # 25 points of Black area against komi 7.5


def test_ownership_is_area_scoring_point_by_point():
    g = games.make("go9")
    s = g.state_from_board("""
        . X O . . . . . .
        X X O . . . . . .
        O O O . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . X
        . . . . . . . . .""")
    owner = g.ownership(s)[::-1]  # rank 9 first, as drawn
    assert owner[0, :3].tolist() == [1, 1, -1] and owner[2, :3].tolist() == [-1, -1, -1]
    assert owner[7, 8] == 1 and owner[5, 5] == 0  # the open region touches both colours
    rng = np.random.default_rng(3)
    for _ in range(20):
        s = g.new_initial_state()
        while not s.is_terminal():
            s.apply_action(int(rng.choice(s.legal_actions())))
        black, white = g.areas(s)
        owner = g.ownership(s)
        assert ((owner == 1).sum(), (owner == -1).sum()) == (black, white)


@pytest.mark.parametrize("rules", ["chinese", "openspiel"])
def test_legal_mask_agrees_with_the_point_by_point_check(rules):
    """The mask kernel counts every group's liberties once for the board; it must say exactly
    what trying each point alone (`_try_move`, with the superko test) says, captures and all."""
    from games import go_kernels as kernels

    game = games.make("go", size=7, rules=rules)
    n, _, rule_id, _ = game.consts
    nbr, mark, stack, stones = kernels._scratch(n)
    rng = np.random.default_rng(5)
    positions = captures = 0
    for _ in range(12):
        state = game.new_initial_state()
        while not state.is_terminal():
            s = state.array
            board, colour = s[kernels._HEADER: kernels._HEADER + n * n], s[kernels._TO_PLAY] + 1
            expected = np.zeros(game.num_actions, bool)
            expected[-1] = True
            for p in np.flatnonzero((board == 0) & (np.arange(n * n) != s[kernels._KO])):
                legal, ncap, caph = kernels._try_move(board, p, colour, nbr, mark, stack, stones)
                captures += ncap > 0
                if legal and rule_id == kernels.CHINESE:
                    legal = not kernels._seen_before(s, s[kernels._HASH] ^ kernels._ZOBRIST[colour - 1, p] ^ caph,
                                                     ncap > 0, n * n)
                expected[p] = legal
            assert np.array_equal(state.legal_mask(), expected)
            positions += 1
            moves = state.legal_actions()
            state.apply_action(int(rng.choice(moves[:-1])) if len(moves) > 1 and rng.random() < 0.97 else moves[-1])
    assert positions > 500 and captures > 50  # full boards with captures were checked, not only openings


def _oracle_play(board: tuple, p: int, colour: int, n: int):
    """The board after `colour` plays at p, by the rules read plainly: opposing groups left
    without a liberty are removed, then a move whose own group has no liberty is suicide (None)."""
    def group(b, start):
        stones, libs, todo = {start}, set(), [start]
        while todo:
            q = todo.pop()
            r, c = divmod(q, n)
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= rr < n and 0 <= cc < n:
                    t = rr * n + cc
                    if b[t] == 0:
                        libs.add(t)
                    elif b[t] == b[start] and t not in stones:
                        stones.add(t)
                        todo.append(t)
        return stones, libs

    b = list(board)
    b[p] = colour
    r, c = divmod(p, n)
    for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
        t = rr * n + cc
        if 0 <= rr < n and 0 <= cc < n and b[t] == 3 - colour:
            stones, libs = group(b, t)
            if not libs:
                for s in stones:
                    b[s] = 0
    return None if not group(b, p)[1] else tuple(b)


@pytest.mark.parametrize("size", [4, 5, 6])
def test_default_rules_legal_masks_against_a_plain_oracle(size):
    """Positional superko and suicide, decided by a plain-Python oracle that keeps its own board
    and its own set of every position so far, on random games: the mask must say exactly which
    moves are legal (pass always), and every move must leave the board the oracle computes."""
    game = games.make("go", size=size)
    rng = np.random.default_rng(size)
    n2 = size * size
    positions = repeats = suicides = 0
    for _ in range(40):
        state = game.new_initial_state()
        board = (0,) * n2
        seen = {board}
        while not state.is_terminal():
            colour = state.current_player() + 1
            expected = np.zeros(n2 + 1, bool)
            expected[n2] = True
            for p in range(n2):
                if board[p] == 0:
                    after = _oracle_play(board, p, colour, size)
                    suicides += after is None
                    expected[p] = after is not None and after not in seen
                    repeats += after is not None and after in seen and after != board
            np.testing.assert_array_equal(state.legal_mask(), expected, err_msg=f"after {state.history()}")
            positions += 1
            moves = state.legal_actions()
            a = int(rng.choice(moves[:-1])) if len(moves) > 1 and rng.random() < 0.95 else n2
            state.apply_action(a)
            if a != n2:
                board = _oracle_play(board, a, colour, size)
                seen.add(board)
            assert tuple(game.board(state).ravel()) == board
    assert positions > 1000 and suicides > 100 and repeats > 5  # both rules were exercised
