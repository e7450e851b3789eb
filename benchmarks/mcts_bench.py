"""Search speed: simulations per second of our search against OpenSpiel's C++ MCTSBot at the
same simulation count with one random rollout per leaf, from each game's opening position.

- single tree (the play setting), with random-rollout evaluation, at several leaves per wave;
- 64 trees in lockstep (the self-play setting) with the uniform evaluator.

    move37 bench mcts [--seconds S] [--games connect4,go9] [--simulations N]
"""

from __future__ import annotations

import time

import games
import mcts

GAMES = ("connect4", "go9")


def _rate(fn, simulations_per_call: int, seconds: float) -> float:
    fn()  # warm-up (and compile on a cold cache)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += simulations_per_call
    return n / (time.perf_counter() - t0)


def openspiel_rate(name: str, simulations: int, seconds: float) -> float:
    import pyspiel

    game = pyspiel.load_game(games.make(name).openspiel)
    bot = pyspiel.MCTSBot(game, pyspiel.RandomRolloutEvaluator(1, 0), 2.0, simulations, 10**7, False, 0, False)
    state = game.new_initial_state()
    return _rate(lambda: bot.step(state), simulations, seconds)


def ours_rate(name: str, simulations: int, seconds: float, trees: int, leaves: int, evaluator: str) -> float:
    game = games.make(name)
    states = [game.new_initial_state() for _ in range(trees)]
    ev = mcts.RolloutEvaluator(game) if evaluator == "rollout" else mcts.UniformEvaluator()
    config = mcts.SearchConfig(num_simulations=simulations, leaves_per_wave=leaves)
    return _rate(lambda: mcts.search(game, states, ev, config, rng=0), simulations * trees, seconds)


def main(seconds: float = 2.0, names: list[str] | None = None, simulations: int = 1000) -> list[dict]:
    rows = []
    for name in names or list(GAMES):
        if name not in GAMES:
            raise ValueError(f"unknown benchmark game {name!r}; choose from {', '.join(GAMES)}.")
        base = openspiel_rate(name, simulations, seconds)
        print(f"\n{name}: OpenSpiel C++ MCTSBot, {simulations} simulations, 1 rollout/leaf: {base:>12,.0f} sims/s")
        rows.append({"game": name, "setting": "openspiel-cpp", "sims_per_s": base})
        for leaves in (1, 8, 32, 64):
            r = ours_rate(name, simulations, seconds, 1, leaves, "rollout")
            rows.append({"game": name, "setting": f"single tree, rollouts, {leaves} leaves/wave", "sims_per_s": r,
                         "ratio": r / base})
            print(f"{name}: ours, 1 tree, rollouts, {leaves:>2} leaves/wave:          {r:>12,.0f} sims/s  "
                  f"{r / base:5.1f}x")
        for leaves in (1, 8, 16):
            r = ours_rate(name, 200, seconds, 64, leaves, "uniform")
            rows.append({"game": name, "setting": f"64 trees x 200 sims, uniform, {leaves} leaves/wave",
                         "sims_per_s": r, "ratio": r / base})
            print(f"{name}: ours, 64 trees x 200 sims, uniform, {leaves:>2} leaves/wave: {r:>12,.0f} sims/s  "
                  f"{r / base:5.1f}x")
    return rows


if __name__ == "__main__":
    main()
