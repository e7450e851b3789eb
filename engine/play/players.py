"""Players: `make_player(spec, game) -> Player`, from the spec strings shared by the CLI and
the Python API. Each player answers `select_action(state) -> int`.

Specs:
  random                        uniformly random legal moves
  human                         moves typed in the terminal
  minimax[:DEPTH]               alpha-beta with a transposition table; exact without a depth
                                (small games only), else a depth-limited search that scores
                                unfinished positions as 0
  mcts:SIMS[,key=value...]      our search with random-rollout evaluation; keys are
                                SearchConfig fields (leaves_per_wave, algorithm, c_init, ...)
                                plus rollouts (per leaf) and seed
  openspiel-mcts:SIMS           OpenSpiel's C++ MCTSBot with one random rollout per leaf
  gnugo[:LEVEL]                 GNU Go over GTP (Go only; level 0-10, default 10)
  PATH[:SIMS[,key=value...]]    a trained network (checkpoint file, or a run directory's best
                                checkpoint) guiding our search, 400 simulations by default;
                                keys as for mcts (no rollouts) plus precision (auto, fp32,
                                bf16, int8)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from games.base import Game, State
from games.native import NativeGame

SPEC_FORMS = ["random", "human", "minimax[:DEPTH]", "mcts:SIMS[,key=value...]", "openspiel-mcts:SIMS",
              "gnugo[:LEVEL]", "PATH[:SIMS[,key=value...]] (a checkpoint or run directory)"]
EXACT_MINIMAX_MAX_CELLS = 9  # exact minimax is offered for boards up to tic-tac-toe's size


class PlayerSpecError(ValueError):
    """A player spec that does not name a player, or names one that cannot play this game."""


class Resigned(Exception):
    """Raised by select_action when a player resigns instead of moving."""


class Player:
    name = "player"

    def select_action(self, state: State) -> int:
        raise NotImplementedError

    def new_game(self) -> None:
        """Forget anything carried over from an earlier game."""


class RandomPlayer(Player):
    name = "random"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def select_action(self, state: State) -> int:
        return int(self.rng.choice(state.legal_actions()))


class HumanPlayer(Player):
    """Reads moves from the terminal; see engine.terminal for the commands it accepts."""

    name = "human"

    def __init__(self, game: Game, ask=input, say=print):
        self.game, self.ask, self.say = game, ask, say

    def select_action(self, state: State) -> int:
        from engine.terminal import read_move

        move = read_move(state, self.ask, self.say, allow_commands=False)
        if move is None:
            raise EOFError("no more input")
        return move


class MinimaxPlayer(Player):
    """Negamax with alpha-beta pruning and a transposition table. Values are from the mover's
    view: +1 win, -1 loss, 0 draw (or unknown at the depth limit)."""

    EXACT, LOWER, UPPER = 0, 1, 2

    def __init__(self, game: Game, depth: int | None = None):
        self.game = game
        self.depth = depth
        self.name = "minimax" if depth is None else f"minimax:{depth}"
        self.table: dict = {}

    def _key(self, state: State, depth: int):
        key = state.array.tobytes() if isinstance(self.game, NativeGame) else tuple(state.history())
        return key if self.depth is None else (key, depth)

    def _value_for(self, child: State, mover: int, depth: int, alpha: float, beta: float) -> float:
        """Value of `child` for `mover` (who just moved into it) within (alpha, beta)."""
        if child.is_terminal():
            return float(child.returns()[mover])
        if depth <= 0:
            return 0.0
        if child.current_player() == mover:
            return self._negamax(child, depth, alpha, beta)
        return -self._negamax(child, depth, -beta, -alpha)

    def _negamax(self, state: State, depth: int, alpha: float, beta: float) -> float:
        """Value of a live state for its player to move."""
        key = self._key(state, depth)
        entry = self.table.get(key)
        if entry is not None:
            flag, v = entry
            if flag == self.EXACT or (flag == self.LOWER and v >= beta) or (flag == self.UPPER and v <= alpha):
                return v
        a0 = alpha
        best = -2.0
        mover = state.current_player()
        for a in state.legal_actions():
            v = self._value_for(state.child(int(a)), mover, depth - 1, alpha, beta)
            best = max(best, v)
            alpha = max(alpha, v)
            if alpha >= beta:
                break
        flag = self.UPPER if best <= a0 else (self.LOWER if best >= beta else self.EXACT)
        self.table[key] = (flag, best)
        return best

    def action_values(self, state: State) -> dict[int, float]:
        """Each legal action's exact (or depth-limited) value for the player to move."""
        depth = 10**9 if self.depth is None else self.depth
        mover = state.current_player()
        return {int(a): self._value_for(state.child(int(a)), mover, depth - 1, -1.0, 1.0)
                for a in state.legal_actions()}

    def select_action(self, state: State) -> int:
        values = self.action_values(state)
        return max(values, key=lambda a: values[a])


class MCTSPlayer(Player):
    """Our search with a rollout evaluator; keeps its tree between moves of one game."""

    def __init__(self, game: Game, config, rollouts: int = 1, seed: int | None = None, name: str = "mcts",
                 evaluator=None):
        import mcts

        self.game = game
        self.config = config
        self.evaluator = evaluator or mcts.RolloutEvaluator(game, rollouts, seed or 0)
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.tree = None
        self.last_result = None

    def new_game(self) -> None:
        self.tree = None

    def _follow(self, state: State) -> None:
        """Advance the kept tree along the moves played since our last search."""
        if self.tree is None:
            return
        seen = self.tree.histories[0]
        now = state.history()
        if seen is None or now[: len(seen)] != seen:
            self.tree = None  # a new game, or a position we did not expect
            return
        for a in now[len(seen):]:
            self.tree.advance(0, a)

    def search(self, state: State, progress=None, seconds: float | None = None, simulations: int | None = None):
        """Search `state` (continuing from the kept tree). With `progress` or `seconds` the
        budget runs in chunks, sized from the measured speed so that none overshoots the
        time left; progress(result, simulations done) is called after each chunk."""
        import time

        import mcts

        self._follow(state)
        total = simulations or self.config.num_simulations
        chunked = (progress is not None or seconds is not None) and self.config.algorithm != "gumbel"
        chunk = min(total, max(4 * self.config.leaves_per_wave, 64)) if chunked else total
        start, done = time.perf_counter(), 0
        while done < total:
            n = min(chunk, total - done)
            config = dataclasses.replace(self.config, num_simulations=n)
            self.last_result = mcts.search(self.game, [state], self.evaluator, config, self.rng, self.tree)
            self.tree = self.last_result.tree
            done += n
            elapsed = time.perf_counter() - start
            if progress:
                progress(self.last_result, done)
            if self.tree.tree.solved[0, 0] or (seconds is not None and elapsed >= seconds):
                break
            rate = done / max(elapsed, 1e-6)
            slice_ = max(elapsed, 0.05) if seconds is None else min(seconds - elapsed, seconds / 10)
            chunk = max(self.config.leaves_per_wave, int(rate * slice_))
        return self.last_result

    def select_action(self, state: State, progress=None, seconds: float | None = None) -> int:
        action = int(self.search(state, progress, seconds).action[0])
        self.tree.advance(0, action)
        return action


class OpenSpielMCTSPlayer(Player):
    """OpenSpiel's C++ MCTSBot (UCT, c = 2, one random rollout per leaf, solver on): the
    external reference our search is measured against."""

    def __init__(self, game: Game, simulations: int, seed: int | None = None):
        import pyspiel

        self.game = game
        self.spiel_game = pyspiel.load_game(openspiel_twin(game))
        evaluator = pyspiel.RandomRolloutEvaluator(1, seed or 0)
        self.bot = pyspiel.MCTSBot(self.spiel_game, evaluator, 2.0, simulations, 1000, True, seed or 0, False)
        self.name = f"openspiel-mcts:{simulations}"

    def select_action(self, state: State) -> int:
        s = self.spiel_game.new_initial_state()
        for a in state.history():
            s.apply_action(a)
        return int(self.bot.step(s))


def openspiel_twin(game: Game) -> str:
    """The pyspiel game string with the same rules and action ids as a move37 game."""
    from games.connect4 import Connect4
    from games.go import Go
    from games.gomoku import Gomoku
    from games.openspiel_adapter import OpenSpielGame
    from games.othello import Othello
    from games.tictactoe import TicTacToe

    if isinstance(game, OpenSpielGame):
        return game.spec
    if isinstance(game, TicTacToe):
        return "tic_tac_toe"
    if isinstance(game, Connect4):
        return f"connect_four(rows={game.height},columns={game.width},x_in_row={game.connect})"
    if isinstance(game, Gomoku):
        return f"gomoku(size={game.width},connect={game.connect})"
    if isinstance(game, Othello):
        return "othello"
    if isinstance(game, Go):
        return f"go(board_size={game.size},komi={game.komi})"
    raise PlayerSpecError(f"openspiel-mcts cannot play {game.name}: it has no OpenSpiel counterpart.")


def _int(text: str, what: str, spec: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise PlayerSpecError(f"{what} in player {spec!r} must be a whole number, not {text!r}.") from None
    if value < 1:
        raise PlayerSpecError(f"{what} in player {spec!r} must be at least 1.")
    return value


def parse_bool(text) -> bool:
    """A yes/no setting as people type it (true/false, yes/no, on/off, 1/0, any case); anything
    else is a ValueError, never a silent False. Player specs and training settings share it."""
    word = str(text).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value: {text!r}")


def _search_settings(parts: list[str], spec: str, settings: dict, extras: dict) -> tuple[dict, dict]:
    """Parse `key=value` settings into `settings` (SearchConfig fields) and `extras` (the
    player's own keys, like seed, with their defaults); returns both."""
    from mcts import SearchConfig

    extras = dict(extras)
    fields = [f.name for f in dataclasses.fields(SearchConfig) if f.name != "num_simulations"]
    for part in parts:
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq:
            raise PlayerSpecError(f"setting {part!r} in player {spec!r} is not of the form key=value.")
        if key in extras:
            extras[key] = value if isinstance(extras[key], str) else _int(value, key, spec)
        elif key in fields:
            default = getattr(SearchConfig(), key)
            try:
                if isinstance(default, bool):
                    settings[key] = parse_bool(value)
                elif isinstance(default, int):
                    settings[key] = int(value)
                else:
                    settings[key] = value if isinstance(default, str) else float(value)
            except ValueError:
                raise PlayerSpecError(f"setting {key} in player {spec!r} has a bad value {value!r}.") from None
        else:
            raise PlayerSpecError(f"unknown setting {key!r} in player {spec!r}; known: {', '.join([*extras, *fields])}.")
    return settings, extras


def _search_config(settings: dict, spec: str):
    from mcts import SearchConfig

    try:
        return SearchConfig(**settings)
    except ValueError as e:
        raise PlayerSpecError(f"player {spec!r}: {e}") from None


def _mcts_player(game: Game, spec: str, rest: str, seed: int | None) -> MCTSPlayer:
    parts = [p.strip() for p in rest.split(",") if p.strip()]
    if not parts:
        raise PlayerSpecError(f"player {spec!r} needs a simulation count, like mcts:400.")
    sims = _int(parts[0], "the simulation count", spec)
    # Leaves per wave: enough to amortise the per-wave Python cost, few enough that virtual
    # loss barely changes the search (docs/benchmarks.md: 8 leaves at 1000 simulations scored
    # 0.478 against OpenSpiel's MCTSBot over 300 games, 31 leaves 0.457).
    settings = {"num_simulations": sims, "leaves_per_wave": max(1, min(16, sims // 128))}
    settings, extras = _search_settings(parts[1:], spec, settings, {"rollouts": 1, "seed": 0})
    return MCTSPlayer(game, _search_config(settings, spec), extras["rollouts"], extras["seed"] or seed, name=spec)


def make_player(spec: str, game: Game, seed: int | None = None) -> Player:
    s = str(spec).strip()
    kind, _, rest = s.partition(":")
    kind = kind.lower()
    if kind == "random" and not rest:
        return RandomPlayer(seed)
    if kind == "human" and not rest:
        return HumanPlayer(game)
    if kind == "minimax":
        depth = _int(rest, "the depth", s) if rest else None
        cells = game.observation_shape[1] * game.observation_shape[2]
        if depth is None and cells > EXACT_MINIMAX_MAX_CELLS:
            raise PlayerSpecError(
                f"exact minimax cannot play {game.name} (too large to solve); give a depth, like minimax:4."
            )
        return MinimaxPlayer(game, depth)
    if kind == "mcts":
        return _mcts_player(game, s, rest, seed)
    if kind == "openspiel-mcts":
        if not rest:
            raise PlayerSpecError(f"player {s!r} needs a simulation count, like openspiel-mcts:1000.")
        return OpenSpielMCTSPlayer(game, _int(rest, "the simulation count", s), seed)
    if kind == "gnugo":
        from engine.gnugo import GnuGoPlayer

        try:
            level = int(rest) if rest else 10
        except ValueError:
            raise PlayerSpecError(f"the GNU Go level in {s!r} must be a whole number 0-10.") from None
        return GnuGoPlayer(game, level)
    path, sims, settings = _network_spec(s)
    if path is not None:
        return network_player(path, game, sims, seed, settings=settings, name=s if settings else None)
    raise PlayerSpecError(f"unknown player {spec!r}; valid forms: {', '.join(SPEC_FORMS)}.")


def _network_spec(spec: str) -> tuple[str | None, int, list[str]]:
    """`PATH` or `PATH:SIMS[,key=value...]` when PATH exists (a checkpoint file or a run
    directory): the path, the simulation count and the search settings."""
    import os

    head, sep, tail = spec.rpartition(":")
    sims, _, rest = tail.partition(",")
    if sep and sims.strip().isdigit() and os.path.exists(head):
        return head, int(sims), [p.strip() for p in rest.split(",") if p.strip()]
    if os.path.exists(spec):
        return spec, DEFAULT_NETWORK_SIMULATIONS, []
    return None, 0, []


DEFAULT_NETWORK_SIMULATIONS = 400


def network_search_settings(simulations: int) -> dict:
    """How a network player searches unless told otherwise (training's evaluation agent too):
    SIMS/64 leaves per wave (1..16) and the win check."""
    return {"num_simulations": simulations, "leaves_per_wave": max(1, min(16, simulations // 64)), "win_check": True}


def network_player(path: str, game: Game, simulations: int = DEFAULT_NETWORK_SIMULATIONS, seed=None,
                   device: str = "auto", settings: list[str] | None = None, name: str | None = None) -> "MCTSPlayer":
    """Our search guided by the network in a checkpoint (or a run directory's best one);
    `settings` are `key=value` search settings over the defaults below."""
    from engine.checkpoint import CheckpointError, load, network_from, resolve_path
    from engine.inference import NetworkEvaluator

    if simulations < 1:
        raise PlayerSpecError("the simulation count must be at least 1.")
    try:
        file = resolve_path(path)
        net = network_from(load(file, game.name), game)
    except CheckpointError as e:
        raise PlayerSpecError(str(e)) from None
    spec = name or f"{path}:{simulations}"
    config, extras = _search_settings(settings or [], spec, network_search_settings(simulations),
                                      {"seed": 0, "precision": "auto"})
    calibration = None
    if extras["precision"] == "int8":  # no self-play positions at hand: random games span the game
        from engine.quantize import random_game_observations

        calibration = random_game_observations(game)
    try:
        evaluator = NetworkEvaluator(net, device, precision=extras["precision"], calibration=calibration)
    except ValueError as e:
        raise PlayerSpecError(f"player {spec!r}: {e}") from None
    return MCTSPlayer(game, _search_config(config, spec), seed=extras["seed"] or seed, name=spec,
                      evaluator=evaluator)
