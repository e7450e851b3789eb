"""The `move37` command. Each command imports what it needs when it runs, so `--help` is quick.

Errors a person can cause end in one sentence on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine.cli_llm import add_llm_commands
from engine.cli_rlhf import add_rlhf_commands
from engine.usage import UsageError


DEFAULT_AGENT = "mcts:2000"


def default_agent(game_name: str) -> tuple[str, str]:
    """(spec, why): the best checkpoint of the game's default run directory when there is
    one, else our search with a budget that answers in about a second."""
    import os

    run = os.path.join("runs", game_name)
    if os.path.exists(os.path.join(run, "checkpoints", "best.pt")):
        return run, f"the trained agent in {run}"
    return DEFAULT_AGENT, f"no trained agent in {run} yet, so our search with random rollouts"


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


def _with_sims(spec: str, sims: int) -> str:
    """The same search agent with another simulation budget (`--sims`)."""
    import os

    if sims < 1:
        raise UsageError("--sims must be at least 1.")
    if os.path.exists(spec.rsplit(":", 1)[0]) or os.path.exists(spec):
        path = spec if os.path.exists(spec) else spec.rsplit(":", 1)[0]
        return f"{path}:{sims}"
    kind, _, rest = spec.partition(":")
    if kind not in ("mcts", "openspiel-mcts"):
        raise UsageError(f"--sims applies to search agents (mcts:..., openspiel-mcts:..., a checkpoint), "
                         f"not {spec!r}.")
    settings = rest.split(",")[1:] if rest else []
    return ",".join([f"{kind}:{sims}", *settings])


def cmd_play(args) -> int:
    import datetime
    import os

    from engine.play import sgf
    from engine.play.base import PlayerSpecError
    from engine.play.specs import make_player
    from engine.play.terminal import Session

    game = _game(args.game)
    is_go = hasattr(game, "area_score")
    start = None
    if args.sgf:
        if not is_go:
            raise UsageError("--sgf sets up Go positions; it does not apply to " + game.name + ".")
        try:
            game, start = sgf.load(args.sgf, rules=game.rules)
        except sgf.SgfError as e:
            raise UsageError(str(e)) from None
        if start.is_terminal():
            raise UsageError(f"the game in {args.sgf} is already over.")
    spec, why = (args.agent, "") if args.agent else default_agent(game.name)
    if args.sims is not None:
        spec = _with_sims(spec, args.sims)
    try:
        agent = make_player(spec, game, seed=args.seed)
        hint = None if hasattr(agent, "search") else make_player("mcts:1000", game, seed=args.seed)
    except (PlayerSpecError, ValueError) as e:
        raise UsageError(str(e)) from None
    colours = {"first": 0, "black": 0, "x": 0, "second": 1, "white": 1, "o": 1}
    if args.color not in colours:
        raise UsageError(f"--color must be one of {', '.join(colours)}, not {args.color!r}.")
    print(f"Agent: {spec}" + (f" ({why}; choose another with --agent)" if why else ""))
    session = Session(game, agent, colours[args.color], hint_player=hint, start=start)
    final = session.run()
    if is_go and final is not None and args.save_sgf != "":
        path = args.save_sgf or os.path.join(
            "records", f"{game.name}-{datetime.datetime.now():%Y%m%d-%H%M%S}.sgf")
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(sgf.write(session.record()))
            print(f"Game saved to {path}")
        except OSError as e:
            print(f"move37: could not save the game to {path}: {e.strerror}.", file=sys.stderr)
    return 0


def _sgf_writer(game, directory: str):
    """on_game callback of the arena that writes each Go game to DIRECTORY/game_NNNN.sgf."""
    import os

    from engine.play import sgf

    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {directory}: {e.strerror}.") from None

    def write(index, state, names, ending):
        moves = []
        player = 0
        for a in state.history():
            moves.append((player, a))
            player = 1 - player
        if ending:
            loser = state.current_player()
            result = ("W" if loser == 0 else "B") + ("+R" if ending == "resigned" else "+F")
        else:
            result = game.result_string(state) if state.is_terminal() else ""
        record = sgf.GoRecord(game.size, game.komi, game.rules.capitalize(), names[0], names[1], result, moves=moves)
        with open(os.path.join(directory, f"game_{index + 1:04d}.sgf"), "w", encoding="utf-8") as f:
            f.write(sgf.write(record))

    return write


def _lockstep_match(game, a, b, args, progress, on_game):
    """--lockstep: every game at once, one batched search for A per step (as in training's
    evaluation), each game against its own fresh B (`b` itself in the first)."""
    from engine.play.arena import play_match_lockstep
    from engine.play.players import MCTSPlayer
    from engine.play.specs import make_player

    if not isinstance(a, MCTSPlayer):
        raise UsageError(f"--lockstep needs a searching first player (mcts:N or a checkpoint), not {a.name}.")
    seed = args.seed or 0

    made = [b]

    def opponent(index):
        if index:
            made.append(make_player(args.player_b, game, seed=seed + 1 + index))
        return made[index]

    try:
        return play_match_lockstep(game, a.evaluator, a.config, a.name, opponent, args.games, args.openings, seed,
                                   progress, on_game)
    finally:
        for player in made:  # GNU Go opponents are processes
            getattr(player, "close", lambda: None)()


def cmd_arena(args) -> int:
    import json

    from engine.play.arena import play_match
    from engine.play.base import PlayerSpecError
    from engine.play.specs import make_player

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

    on_game = None
    if args.sgf_dir:
        if not hasattr(game, "area_score"):
            raise UsageError(f"--sgf-dir records Go games; {game.name} is not Go.")
        on_game = _sgf_writer(game, args.sgf_dir)
    if args.lockstep:
        result = _lockstep_match(game, a, b, args, progress, on_game)
    else:
        result = play_match(game, a, b, args.games, args.openings, args.seed or 0, progress, on_game)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(file=sys.stderr)
        print(result.summary())
    return 0


def cmd_gtp(args) -> int:
    from engine.play.gtp import GtpEngine, GtpFailure

    if not 2 <= args.size <= 19:
        raise UsageError(f"--size must be between 2 and 19, not {args.size}.")
    if args.rules not in ("chinese", "openspiel"):
        raise UsageError(f"--rules must be chinese or openspiel, not {args.rules!r}.")
    spec, why = (args.agent, "") if args.agent else default_agent(f"go{args.size}")
    if why:
        print(f"move37 gtp: agent {spec} ({why})", file=sys.stderr)
    try:
        engine = GtpEngine(spec, args.size, args.komi, args.rules, args.resign_below, args.seed)
    except (GtpFailure, ValueError) as e:
        raise UsageError(str(e)) from None
    engine.run()
    return 0


def _print_settings(game: str | None, config) -> None:
    """`move37 train [GAME] --settings`: every setting with the value GAME's run would use."""
    from training.config import settings_table

    rows = settings_table(config)
    width = max(len(r[0]) for r in rows)
    head = f"value for {game}" if game else "default"
    print(f"{'setting':<{width}}  {head:<22}  description (generic default in brackets where the game's differs)")
    for key, value, generic, text in rows:
        note = f" [{generic}]" if value != generic else ""
        print(f"{key:<{width}}  {value:<22}  {text}{note}")
    print("\nSet any of them as key=value after the game, e.g. `move37 train connect4 search.c_init=1.5 minutes=10`; "
          "--config FILE reads them from TOML (search settings in a [search] table).")


def is_reasoning_task(name: str) -> bool:
    """Whether `move37 train NAME` means expert iteration on a reasoning task, not self-play."""
    base = name.strip().split("(")[0]
    return base in ("countdown", "arith") or name.strip().endswith(".jsonl")


def cmd_train(args) -> int:
    import os

    import games
    from training.config import TrainConfig, resolve
    from training.run import RunError, Trainer

    if args.game is None:
        if args.list_settings:
            _print_settings(None, TrainConfig())
            return 0
        raise UsageError("train needs a game, like `move37 train connect4` (`move37 games` lists them).")
    rlhf = args.game.strip().split("(")[0] == "reviews" or args.reward  # no checker: optimise a reward model
    if args.ray and (rlhf or is_reasoning_task(args.game)):
        raise UsageError("--ray applies to game training (self-play), not to language-model tasks.")
    if rlhf:
        from engine.cli_rlhf import cmd_train_rlhf

        return cmd_train_rlhf(args)
    if is_reasoning_task(args.game):
        from engine.cli_llm import cmd_train_reasoning

        return cmd_train_reasoning(args)
    if args.init:
        raise UsageError("--init applies to reasoning tasks (countdown, arith, a .jsonl file).")
    if args.ray and "=" in args.ray:  # `--ray ray_workers=2`: a bare --ray followed by a setting
        args.settings, args.ray = [args.ray, *args.settings], "local"
    run_dir = args.run_dir or os.path.join("runs", args.game)
    saved = os.path.join(run_dir, "config.toml") if args.resume else None  # a resumed run keeps its settings
    try:
        config = resolve(args.game, args.config, args.settings, saved=saved, minutes=args.minutes, seed=args.seed,
                         device=args.device)
        games.make(config.game)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.list_settings:
        _print_settings(args.game, config)
        return 0
    try:
        trainer = Trainer(config, run_dir, resume=args.resume, ray=args.ray)
    except (RunError, ValueError) as e:
        raise UsageError(str(e)) from None
    where = f", self-play on {trainer.selfplay.threads} Ray actors" if args.ray else ""
    print(f"Training {config.game} in {run_dir} for {config.minutes:g} minutes "
          f"(network {trainer.net_config.name}, device {trainer.device}{where}); TensorBoard: "
          f"tensorboard --logdir {os.path.join(run_dir, 'tensorboard')}")
    try:
        last = trainer.run()
    except KeyboardInterrupt:
        print(f"Stopped. Continue with: move37 train {config.game} --run-dir {run_dir} --resume", file=sys.stderr)
        return 130
    if last:
        score = f", evaluation score {last['eval_score']:.0%}" if last["eval_score"] is not None else ""
        print(f"Done: {last['iteration']} iterations, {last['elapsed_minutes']:.1f} minutes{score}.")
    print(f"Play the agent: move37 play {config.game} --agent {run_dir}")
    return 0


BENCHMARKS = {"games": "benchmarks.games_bench", "mcts": "benchmarks.mcts_bench",
              "selfplay": "benchmarks.selfplay_bench", "network": "benchmarks.network_bench",
              "llm": "benchmarks.llm_bench", "countdown": "benchmarks.countdown_stats",
              "reason": "benchmarks.reason_bench", "overopt": "benchmarks.overopt_bench", "ray": "benchmarks.ray_bench",
              "learners": "benchmarks.learners_bench"}


def cmd_bench(args) -> int:
    import importlib
    import inspect

    if args.what not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {args.what!r}; available: {', '.join(BENCHMARKS)}.")
    module = importlib.import_module(BENCHMARKS[args.what])
    kwargs = {} if args.seconds is None else {"seconds": args.seconds}
    accepted = inspect.signature(module.main).parameters
    for key, convert in (("precision", str), ("problems", int), ("seeds", int), ("samples", lambda v: [int(x) for x in v.split(",")]), ("policy", str), ("out", str),
                         ("budgets", lambda v: [int(x) for x in v.split(",")]), ("methods", lambda v: v.split(","))):
        value = getattr(args, key, None)
        if value is None:
            continue
        if key not in accepted:
            raise UsageError(f"--{key} does not apply to the {args.what} benchmark.")
        try:
            kwargs[key] = convert(value)
        except ValueError:
            raise UsageError(f"--{key} takes {'whole numbers separated by commas' if key in ('budgets', 'samples') else 'a number'}, "
                             f"not {value!r}.") from None
    try:
        module.main(names=args.games.split(",") if args.games else None, **kwargs)
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
    s.add_argument("--sims", type=int, default=None, help="simulations per move for a search agent")
    s.add_argument("--sgf", default=None, help="Go: start from the position at the end of this SGF file")
    s.add_argument("--save-sgf", default=None,
                   help="Go: where to save the game (default records/GAME-TIME.sgf; '' to not save)")
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
    s.add_argument("--sgf-dir", default=None, help="Go: write every game as SGF into this directory")
    s.add_argument("--lockstep", action="store_true",
                   help="play all games at once with one batched search for player A per move "
                        "(A must search: mcts:N or a checkpoint; much faster for networks)")
    s.set_defaults(func=cmd_arena)

    s = sub.add_parser("train", help="train an agent by self-play (AlphaZero), or a language model on a reasoning "
                                     "task by expert iteration")
    s.add_argument("game", nargs="?", help="game name (see `move37 games`), or a reasoning task: countdown, arith, "
                                           "a .jsonl file")
    s.add_argument("settings", nargs="*", help="key=value training settings, e.g. minutes=10 search.c_init=1.5; "
                                               "`move37 train GAME --settings` lists each with its value and meaning")
    s.add_argument("--settings", dest="list_settings", action="store_true",
                   help="print every training and search setting with its value for GAME and a description, then exit")
    s.add_argument("--config", default=None, help="a TOML file of training settings")
    s.add_argument("--run-dir", default=None, help="where the run lives (default runs/GAME)")
    s.add_argument("--resume", action="store_true", help="continue the run in the run directory")
    s.add_argument("--device", default=None, help="auto (default), cpu or cuda[:N]")
    s.add_argument("--minutes", type=float, default=None, help="training time (default per game)")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--init", default=None, help="reasoning tasks: the model to start from (default: the task's "
                                                "built-in base model)")
    s.add_argument("--reward", default=None, help="reviews: the reward run (`move37 reward`) to optimise against")
    s.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS|local",
                   help="play self-play on Ray actors: a running cluster's address, or local (the default) to "
                        "start Ray on this machine; needs pip install 'move37[ray]'")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("gtp", help="a Go engine speaking GTP on stdin/stdout (GoGui, Sabaki, Lizzie, GNU Go)")
    s.add_argument("--agent", default=None, help="player spec (default: runs/goN's best checkpoint if any, "
                   f"else {DEFAULT_AGENT})")
    s.add_argument("--size", type=int, default=19, help="board size (default 19; the controller may change it)")
    s.add_argument("--komi", type=float, default=7.5)
    s.add_argument("--rules", default="chinese", help="chinese (default) or openspiel")
    s.add_argument("--resign-below", type=float, default=None,
                   help="resign when the searched value falls below this (-1..1; default: never)")
    s.add_argument("--seed", type=int, default=None)
    s.set_defaults(func=cmd_gtp)

    add_llm_commands(sub)
    add_rlhf_commands(sub)

    s = sub.add_parser("bench", help="speed benchmarks that print figures")
    s.add_argument("what", help="which benchmark: games, mcts, selfplay, network, llm, countdown, reason, overopt, ray, learners")
    s.add_argument("--seconds", type=float, default=None, help="time per measurement (learners: training time per arm, default 900)")
    s.add_argument("--games", default=None, help="comma-separated subset of games")
    s.add_argument("--precision", default=None, help="selfplay: network precision, auto|fp32|bf16|int8 (default auto)")
    s.add_argument("--problems", default=None, help="reason, countdown, learners: held-out problems per task (default 1000)")
    s.add_argument("--seeds", default=None, help="reason, overopt: seeds (default 3); learners: seeds (default 1)")
    s.add_argument("--samples", default=None, help="overopt: base-model outputs per prompt for best-of-n (default 1024); "
                   "one number for every seed, or one per seed separated by commas")
    s.add_argument("--policy", default=None, help="reason: the policy spec, or several separated by commas, "
                   "measured side by side (default builtin); overopt, learners: the base model")
    s.add_argument("--budgets", default=None, help="reason: generated tokens per problem, comma-separated "
                   "(default: 2, 4, 8, 16 and 32 times the greedy cost)")
    s.add_argument("--methods", default=None, help="reason: comma-separated subset of sample,vote,best,beam,mcts,gumbel; "
                   "learners: of right_short,right,all,search,grpo,grpo_lr3e-4,results")
    s.add_argument("--out", default=None, help="reason, overopt, learners: where their JSON and plot go (default runs/bench/...)")
    s.set_defaults(func=cmd_bench)
    return p




def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # `train` takes key=value settings anywhere on the line
        if hasattr(args, "settings") and all("=" in e and not e.startswith("-") for e in extra):
            args.settings = list(args.settings) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
    except BrokenPipeError:  # output piped into a reader that stopped (`move37 games | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
