"""Each game file repeats the shared header layout as literals (numba's cache cannot see
constants from another file); they must agree with games.native."""

import importlib

import numba
import pytest

from games import native


@pytest.mark.parametrize("module", ["games.mnk", "games.othello", "games.go_kernels"])
def test_header_slots_agree(module):
    m = importlib.import_module(module)
    assert (m._TO_PLAY, m._TERMINAL, m._OUTCOME, m._PLY, m._LAST) == (
        native.TO_PLAY, native.TERMINAL, native.OUTCOME, native.PLY, native.LAST)
    assert m._HEADER >= native.HEADER


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="with NUMBA_DISABLE_JIT there are no compiled kernels")
@pytest.mark.parametrize("module", ["games.mnk", "games.othello", "games.go_kernels", "mcts.kernels"])
def test_kernels_release_the_gil(module):
    """Self-play threads search at once only if every kernel they call runs without the GIL."""
    m = importlib.import_module(module)
    kernels = {name: v for name, v in vars(m).items() if isinstance(v, numba.core.registry.CPUDispatcher)}
    assert kernels and all(k.targetoptions.get("nogil") for k in kernels.values()), \
        [name for name, k in kernels.items() if not k.targetoptions.get("nogil")]
