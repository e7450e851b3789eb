"""Random playouts per second, per playout and per move: native numba kernels against OpenSpiel's
C++ (whole random games from the opening played in C++ by `pyspiel.evaluate_bots` with its
uniform random bots, one Python call per playout) and against pyspiel driven move by move from Python. Playouts against
playouts: no tree work on either side. Moves per C++ playout are not reported by OpenSpiel, so
its moves per second are its playouts per second times the mean length of the same game's
random playouts under the same rules (measured by the Python loop). Single process, single
thread.

Where the games differ in length: native Go never fills the mover's own one-point eyes and ends
when both sides pass (about 111 moves on 9x9); OpenSpiel's Go fills eyes and runs to its move
cap; so per playout and per move give different ratios, and both are printed.

    move37 bench games [--seconds S] [--games g1,g2]
"""

from __future__ import annotations

import time

import numpy as np

import games

# benchmark row -> game spec (each game names its pyspiel twin: Game.openspiel)
GAMES = {
    "tictactoe": "tictactoe",
    "connect4": "connect4",
    "gomoku": "gomoku",
    "othello": "othello",
    "go9": "go9",
    "go9-openspiel-rules": "go(size=9,rules=openspiel)",
    "go19": "go19",
}


def _timed(fn, seconds: float) -> tuple[int, int, float]:
    """Call fn() -> (playouts, moves) until `seconds` pass; totals and elapsed time."""
    fn()  # warm-up (and numba compile on a cold cache)
    n = moves = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a, b = fn()
        n += a
        moves += b
    return n, moves, time.perf_counter() - t0


def native_rate(name: str, seconds: float, batch: int = 64) -> tuple[float, float]:
    game = games.make(GAMES[name])
    states = np.repeat(game.initial_array()[None], batch, axis=0)
    plies = np.empty(batch, dtype=np.int64)
    seed = iter(range(1, 1 << 30))

    def run():
        game.playout_batch(states, next(seed), plies)
        return batch, int(plies.sum())

    n, moves, dt = _timed(run, seconds)
    return n / dt, moves / dt


def pyspiel_python_rate(name: str, seconds: float) -> tuple[float, float]:
    import pyspiel

    game = pyspiel.load_game(games.make(GAMES[name]).openspiel)
    rng = np.random.default_rng(0)

    def run():
        s = game.new_initial_state()
        m = 0
        while not s.is_terminal():
            legal = s.legal_actions()
            s.apply_action(legal[rng.integers(len(legal))])
            m += 1
        return 1, m

    n, moves, dt = _timed(run, seconds)
    return n / dt, moves / dt


def openspiel_cpp_rate(name: str, seconds: float) -> float:
    """Playouts per second of whole random games played in C++: `pyspiel.evaluate_bots` with
    OpenSpiel's uniform random bots, from a new opening state each time (it plays the state it
    is given to the end)."""
    import pyspiel

    game = pyspiel.load_game(games.make(GAMES[name]).openspiel)
    bots = [pyspiel.make_uniform_random_bot(p, 1 + p) for p in range(game.num_players())]
    seed = iter(range(1, 1 << 30))

    def run():
        pyspiel.evaluate_bots(game.new_initial_state(), bots, next(seed))
        return 1, 0

    n, _, dt = _timed(run, seconds)
    return n / dt


def main(seconds: float = 2.0, names: list[str] | None = None) -> list[dict]:
    rows = []
    print(f"{'game':<22}{'native playouts/s':>18}{'moves/s':>12}{'C++ playouts/s':>16}{'moves/s':>12}"
          f"{'ratio/playout':>15}{'ratio/move':>12}{'Python playouts/s':>19}{'moves/s':>11}")
    for name in names or list(GAMES):
        if name not in GAMES:
            raise ValueError(f"unknown benchmark game {name!r}; choose from {', '.join(GAMES)}.")
        nat, nat_moves = native_rate(name, seconds)
        py, py_moves = pyspiel_python_rate(name, seconds)
        cpp = openspiel_cpp_rate(name, seconds)
        cpp_moves = cpp * py_moves / py  # the same game's mean playout length
        rows.append({"game": name, "native_playouts_per_s": nat, "native_moves_per_s": nat_moves,
                     "cpp_playouts_per_s": cpp, "cpp_moves_per_s": cpp_moves, "ratio_per_playout": nat / cpp,
                     "ratio_per_move": nat_moves / cpp_moves,
                     "pyspiel_python_playouts_per_s": py, "pyspiel_python_moves_per_s": py_moves})
        print(f"{name:<22}{nat:>18,.0f}{nat_moves:>12,.0f}{cpp:>16,.0f}{cpp_moves:>12,.0f}{nat / cpp:>14.1f}x"
              f"{nat_moves / cpp_moves:>11.1f}x{py:>19,.0f}{py_moves:>11,.0f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
