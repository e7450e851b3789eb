"""Search speed against OpenSpiel's C++ MCTSBot, every ratio holding all but the search equal:
both sides one random rollout per leaf, the same simulations, from each game's opening position.

- single tree, the `mcts:N` player's own defaults (what `move37 play` and GTP use), at 1,000 and
  10,000 simulations, beside OpenSpiel's single search at the same count;
- single tree at fixed leaves per wave (1, 8, 64), to show what virtual loss buys, and the
  wave-by-wave driver at 1 and 8, to show what running the search in one compiled call buys;
- 64 trees x 200 simulations in lockstep (the self-play shape) against 64 OpenSpiel searches of
  200 simulations one after another, both with random rollouts.
The uniform evaluator (no rollout) has no OpenSpiel counterpart; its rows print without a ratio.

    move37 bench mcts [--seconds S] [--games connect4,go9]
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


def openspiel_rate(name: str, simulations: int, seconds: float, searches: int = 1) -> float:
    """Simulations per second of `searches` MCTSBot searches of `simulations` each, one after
    another (OpenSpiel's MCTSBot searches one tree at a time)."""
    import pyspiel

    game = pyspiel.load_game(games.make(name).openspiel)
    bot = pyspiel.MCTSBot(game, pyspiel.RandomRolloutEvaluator(1, 0), 2.0, simulations, 10**7, False, 0, False)
    states = [game.new_initial_state() for _ in range(searches)]

    def run():
        for state in states:
            bot.step(state)

    return _rate(run, simulations * searches, seconds)


def ours_rate(name: str, config: mcts.SearchConfig, seconds: float, trees: int = 1, evaluator: str = "rollout",
              compiled: bool = True) -> float:
    """Rollout search runs compiled (mcts/compiled.py) unless `compiled=False`, which keeps the
    wave-by-wave driver."""
    game = games.make(name)
    states = [game.new_initial_state() for _ in range(trees)]
    ev = mcts.RolloutEvaluator(game) if evaluator == "rollout" else mcts.UniformEvaluator()
    return _rate(lambda: mcts.search(game, states, ev, config, rng=0, compiled=compiled),
                 config.num_simulations * trees, seconds)


def player_config(simulations: int) -> mcts.SearchConfig:
    """The search settings `mcts:N` plays with (engine/play/specs.py)."""
    from engine.play.specs import SEARCH_DEFAULTS

    return mcts.SearchConfig(**SEARCH_DEFAULTS["mcts"].settings(simulations))


def _row(rows, name, setting, ours, base, cfg, trees=1, evaluator="rollout"):
    ratio = None if base is None else ours / base
    rows.append({"game": name, "setting": setting, "simulations": cfg.num_simulations, "trees": trees,
                 "leaves_per_wave": cfg.leaves_per_wave, "evaluator": evaluator, "sims_per_s": ours,
                 "openspiel_sims_per_s": base, "ratio": ratio})
    print(f"{name}: {setting:<58}{ours:>12,.0f} sims/s" + ("" if base is None else
          f"   OpenSpiel {base:>10,.0f}   {ratio:4.1f}x"), flush=True)


def main(seconds: float = 2.0, names: list[str] | None = None) -> list[dict]:
    rows: list[dict] = []
    for name in names or list(GAMES):
        if name not in GAMES:
            raise ValueError(f"unknown benchmark game {name!r}; choose from {', '.join(GAMES)}.")
        print(f"\n{name} (one random rollout per leaf on both sides unless said)")
        for sims in (1000, 10000):
            base = openspiel_rate(name, sims, seconds)
            cfg = player_config(sims)
            _row(rows, name, f"1 tree, mcts:{sims} defaults ({cfg.leaves_per_wave} leaves/wave)",
                 ours_rate(name, cfg, seconds), base, cfg)
            if sims == 1000:
                for leaves in (1, 8, 64):
                    fixed = mcts.SearchConfig(num_simulations=sims, leaves_per_wave=leaves)
                    _row(rows, name, f"1 tree, {sims} sims, {leaves} leaves/wave", ours_rate(name, fixed, seconds),
                         base, fixed)
                for leaves in (1, 8):
                    fixed = mcts.SearchConfig(num_simulations=sims, leaves_per_wave=leaves)
                    _row(rows, name, f"1 tree, {sims} sims, {leaves} leaves/wave, wave-by-wave driver",
                         ours_rate(name, fixed, seconds, compiled=False), base, fixed)
        base = openspiel_rate(name, 200, seconds, searches=64)
        for leaves in (1, 8):
            cfg = mcts.SearchConfig(num_simulations=200, leaves_per_wave=leaves)
            _row(rows, name, f"64 trees x 200 sims, {leaves} leaves/wave", ours_rate(name, cfg, seconds, 64), base,
                 cfg, 64)
        cfg = mcts.SearchConfig(num_simulations=200, leaves_per_wave=8)
        _row(rows, name, "64 trees x 200 sims, 8 leaves/wave, uniform evaluator (no rollout)",
             ours_rate(name, cfg, seconds, 64, "uniform"), None, cfg, 64, "uniform")
    return rows


if __name__ == "__main__":
    main()
