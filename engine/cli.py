"""The `move37` command. Each command imports what it needs when it runs, so `--help` is quick.

Errors a person can cause end in one sentence on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys


DEFAULT_AGENT = "mcts:2000"


class UsageError(Exception):
    """A problem with what the person asked for, reported as one sentence."""


def _game(name: str):
    import games

    try:
        return games.make(name)
    except ValueError as e:  # UnknownGameError and bad parameters alike
        raise UsageError(str(e)) from None


def cmd_games(args) -> int:
    import games
    from games.registry import _NATIVE

    print(f"{'name':<12}{'board':<10}{'actions':>8}  observation")
    for name in _NATIVE:
        if name == "go":
            continue  # same as go19
        g = games.make(name)
        c, h, w = g.observation_shape
        print(f"{name:<12}{f'{h}x{w}':<10}{g.num_actions:>8}  {c}x{h}x{w}")
    print("go          any size 2-19, go(size=N,komi=K,rules=chinese|openspiel); go = go19")
    print("openspiel:NAME[(k=v,...)]  any two-player zero-sum perfect-information sequential OpenSpiel game")
    return 0


def cmd_play(args) -> int:
    from engine.players import PlayerSpecError, make_player
    from engine.terminal import play

    game = _game(args.game)
    spec = args.agent or DEFAULT_AGENT
    try:
        agent = make_player(spec, game, seed=args.seed)
    except (PlayerSpecError, ValueError) as e:
        raise UsageError(str(e)) from None
    colours = {"first": 0, "black": 0, "x": 0, "second": 1, "white": 1, "o": 1}
    if args.color not in colours:
        raise UsageError(f"--color must be one of {', '.join(colours)}, not {args.color!r}.")
    print(f"Agent: {spec}" + ("" if args.agent else " (the default; choose another with --agent)"))
    play(game, agent, colours[args.color])
    return 0


def cmd_arena(args) -> int:
    import json

    from engine.arena import play_match
    from engine.players import PlayerSpecError, make_player

    game = _game(args.game)
    if args.games < 1:
        raise UsageError("--games must be at least 1.")
    if args.openings < 0:
        raise UsageError("--openings must be 0 or more.")
    try:
        a = make_player(args.player_a, game, seed=args.seed)
        b = make_player(args.player_b, game, seed=None if args.seed is None else args.seed + 1)
    except (PlayerSpecError, ValueError) as e:
        raise UsageError(str(e)) from None
    if "human" in (a.name, b.name):
        raise UsageError("the arena plays players against each other; use `move37 play` to play yourself.")

    def progress(r):
        if not args.json:
            print(f"\r{r.games}/{args.games} games  +{r.wins} ={r.draws} -{r.losses}", end="", file=sys.stderr,
                  flush=True)

    result = play_match(game, a, b, args.games, args.openings, args.seed or 0, progress)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(file=sys.stderr)
        print(result.summary())
    return 0


BENCHMARKS = {"games": "benchmarks.games_bench", "mcts": "benchmarks.mcts_bench"}


def cmd_bench(args) -> int:
    import importlib

    if args.what not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {args.what!r}; available: {', '.join(BENCHMARKS)}.")
    module = importlib.import_module(BENCHMARKS[args.what])
    try:
        module.main(args.seconds, args.games.split(",") if args.games else None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="move37", description="Self-play reinforcement learning with numba MCTS.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("games", help="list the games with board size, action count and observation shape")
    s.set_defaults(func=cmd_games)

    s = sub.add_parser("play", help="play a game against an agent in the terminal")
    s.add_argument("game", help="game name, see `move37 games`")
    s.add_argument("--agent", default=None, help=f"player spec for the agent (default: {DEFAULT_AGENT})")
    s.add_argument("--color", default="first", help="your side: first|second|black|white (default: first)")
    s.add_argument("--seed", type=int, default=None, help="seed for the agent's randomness")
    s.set_defaults(func=cmd_play)

    s = sub.add_parser("arena", help="play two players against each other and estimate the Elo difference")
    s.add_argument("game")
    s.add_argument("player_a", help="player spec, e.g. mcts:1000")
    s.add_argument("player_b", help="player spec, e.g. openspiel-mcts:1000")
    s.add_argument("--games", type=int, default=20, help="number of games (colours alternate; default 20)")
    s.add_argument("--openings", type=int, default=2, help="random plies that open each pair of games (default 2)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_arena)

    s = sub.add_parser("bench", help="speed benchmarks that print figures")
    s.add_argument("what", help="which benchmark: games, mcts")
    s.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default: 2)")
    s.add_argument("--games", default=None, help="comma-separated subset of games")
    s.set_defaults(func=cmd_bench)
    return p




def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UsageError as e:
        print(f"move37: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmove37: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
