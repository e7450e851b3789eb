"""Each game file repeats the shared header layout as literals (numba's cache cannot see
constants from another file); they must agree with games.native."""

import importlib

import pytest

from games import native


@pytest.mark.parametrize("module", ["games.mnk", "games.othello", "games.go"])
def test_header_slots_agree(module):
    m = importlib.import_module(module)
    assert (m._TO_PLAY, m._TERMINAL, m._OUTCOME, m._PLY, m._LAST) == (
        native.TO_PLAY, native.TERMINAL, native.OUTCOME, native.PLY, native.LAST)
    assert m._HEADER >= native.HEADER
