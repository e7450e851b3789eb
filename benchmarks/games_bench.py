"""Random playouts per second: native numba kernels vs pyspiel driven from Python, and for Go
9x9 also OpenSpiel's C++ (MCTSBot with one random rollout per simulation, the proxy for its
C++ playout speed). Single process, single thread.

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


def openspiel_cpp_rate(name: str, seconds: float, simulations: int = 1000) -> float:
    """Simulations per second of pyspiel.MCTSBot with one random rollout per simulation:
    almost all of its time is the C++ rollout from a near-root leaf."""
    import pyspiel

    game = pyspiel.load_game(games.make(GAMES[name]).openspiel)
    evaluator = pyspiel.RandomRolloutEvaluator(1, 0)
    bot = pyspiel.MCTSBot(game, evaluator, 2.0, simulations, 10**7, False, 0, False)
    state = game.new_initial_state()

    def run():
        bot.step(state)
        return simulations, 0

    n, _, dt = _timed(run, seconds)
    return n / dt


def main(seconds: float = 2.0, names: list[str] | None = None) -> list[dict]:
    rows = []
    print(f"{'game':<22}{'native playouts/s':>18}{'moves/s':>12}{'pyspiel(py) playouts/s':>24}{'moves/s':>12}")
    for name in names or list(GAMES):
        if name not in GAMES:
            raise ValueError(f"unknown benchmark game {name!r}; choose from {', '.join(GAMES)}.")
        nat, nat_moves = native_rate(name, seconds)
        py, py_moves = pyspiel_python_rate(name, seconds)
        rows.append({"game": name, "native_playouts_per_s": nat, "native_moves_per_s": nat_moves,
                     "pyspiel_python_playouts_per_s": py, "pyspiel_python_moves_per_s": py_moves})
        print(f"{name:<22}{nat:>18,.0f}{nat_moves:>12,.0f}{py:>24,.0f}{py_moves:>12,.0f}")
    if names is None or "go9" in names:
        cpp = openspiel_cpp_rate("go9", seconds)
        nat = next(r["native_playouts_per_s"] for r in rows if r["game"] == "go9")
        rows.append({"game": "go9", "openspiel_cpp_rollouts_per_s": cpp, "native_over_cpp": nat / cpp})
        print(f"\ngo9: OpenSpiel C++ (MCTSBot, 1 random rollout per simulation): {cpp:,.0f} rollouts/s")
        print(f"go9: native playouts / OpenSpiel C++ rollouts = {nat / cpp:.1f}x")
    return rows


if __name__ == "__main__":
    main()
