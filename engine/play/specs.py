"""Player specs: `make_player(spec, game) -> Player`, from the strings shared by the CLI, GTP,
the arena, training's evaluation and the Python API.

A spec is `PREFIX[:REST]`. `SPECS` maps each prefix to its constructor; a spec whose head is
an existing path is a trained network (checkpoint file or run directory). The two searching
kinds keep their search defaults in `SEARCH_DEFAULTS`, each with the measurement behind it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Callable

from engine.play.base import Player, PlayerSpecError
from engine.play.gnugo import GnuGoPlayer
from engine.play.players import HumanPlayer, MCTSPlayer, MinimaxPlayer, OpenSpielMCTSPlayer, RandomPlayer
from games.base import Game
from games.random_play import random_game_observations
from mcts import SearchConfig
from mcts.settings import coerce

EXACT_MINIMAX_MAX_CELLS = 9  # exact minimax is offered for boards up to tic-tac-toe's size
DEFAULT_NETWORK_SIMULATIONS = 400


@dataclass(frozen=True)
class SearchDefaults:
    """How a searching player searches unless its spec says otherwise."""

    sims_per_leaf: int  # leaves per wave = SIMS / sims_per_leaf, clamped to 1..max_leaves
    max_leaves: int
    win_check: bool
    why: str

    def settings(self, simulations: int) -> dict:
        return {"num_simulations": simulations, "win_check": self.win_check,
                "leaves_per_wave": max(1, min(self.max_leaves, simulations // self.sims_per_leaf))}


SEARCH_DEFAULTS = {
    "mcts": SearchDefaults(1, 1, False, why=(
        "one leaf per wave, the search as written: rollout search runs whole in one compiled call "
        "(mcts/compiled.py), so waves of several leaves no longer pay for themselves, and virtual "
        "loss only blurs the search (docs/benchmarks.md has speed and strength at these settings)")),
    "network": SearchDefaults(64, 16, True, why=(
        "a network pass costs far more than a wave's Python work, and batching leaves is what "
        "makes it cheap: SIMS/64 leaves per pass, as training's evaluation agent searches; the win "
        "check mends the network's blind spot for one-move wins and blocks (docs/METHODS.md)")),
}


def _count(text: str, what: str, spec: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise PlayerSpecError(f"{what} in player {spec!r} must be a whole number, not {text!r}.") from None
    if value < 1:
        raise PlayerSpecError(f"{what} in player {spec!r} must be at least 1.")
    return value


def search_settings(parts: list[str], spec: str, settings: dict, extras: dict) -> tuple[SearchConfig, dict]:
    """`key=value` parts over `settings` (SearchConfig fields) and `extras` (the player's own
    keys with their defaults): the search config and the extras."""
    extras = dict(extras)
    fields = [f.name for f in dataclasses.fields(SearchConfig) if f.name != "num_simulations"]
    for part in parts:
        key, eq, value = (x.strip() for x in part.partition("="))
        if not eq:
            raise PlayerSpecError(f"setting {part!r} in player {spec!r} is not of the form key=value.")
        if key in extras:
            extras[key] = value if isinstance(extras[key], str) else _count(value, key, spec)
        elif key in fields:
            try:
                settings[key] = coerce(key, getattr(SearchConfig(), key), value)
            except ValueError:
                raise PlayerSpecError(f"setting {key} in player {spec!r} has a bad value {value!r}.") from None
        else:
            raise PlayerSpecError(f"unknown setting {key!r} in player {spec!r}; known: {', '.join([*extras, *fields])}.")
    try:
        return SearchConfig(**settings), extras
    except ValueError as e:
        raise PlayerSpecError(f"player {spec!r}: {e}") from None


def _no_rest(build: Callable[[Game, int | None], Player]):
    def make(game: Game, spec: str, rest: str, seed: int | None) -> Player:
        if rest:
            raise PlayerSpecError(f"player {spec!r} takes no settings.")
        return build(game, seed)
    return make


def _minimax(game: Game, spec: str, rest: str, seed: int | None) -> Player:
    depth = _count(rest, "the depth", spec) if rest else None
    cells = game.observation_shape[1] * game.observation_shape[2]
    if depth is None and cells > EXACT_MINIMAX_MAX_CELLS:
        raise PlayerSpecError(f"exact minimax cannot play {game.name} (too large to solve); give a depth, like minimax:4.")
    return MinimaxPlayer(game, depth)


def _mcts(game: Game, spec: str, rest: str, seed: int | None) -> Player:
    parts = [p.strip() for p in rest.split(",") if p.strip()]
    if not parts:
        raise PlayerSpecError(f"player {spec!r} needs a simulation count, like mcts:400.")
    sims = _count(parts[0], "the simulation count", spec)
    config, extras = search_settings(parts[1:], spec, SEARCH_DEFAULTS["mcts"].settings(sims), {"rollouts": 1, "seed": 0})
    return MCTSPlayer(game, config, extras["rollouts"], extras["seed"] or seed, name=spec)


def _openspiel_mcts(game: Game, spec: str, rest: str, seed: int | None) -> Player:
    if not rest:
        raise PlayerSpecError(f"player {spec!r} needs a simulation count, like openspiel-mcts:1000.")
    return OpenSpielMCTSPlayer(game, _count(rest, "the simulation count", spec), seed)


def _gnugo(game: Game, spec: str, rest: str, seed: int | None) -> Player:
    try:
        level = int(rest) if rest else 10
    except ValueError:
        raise PlayerSpecError(f"the GNU Go level in {spec!r} must be a whole number 0-10.") from None
    return GnuGoPlayer(game, level)


@dataclass(frozen=True)
class SpecKind:
    form: str  # as shown to people
    build: Callable[[Game, str, str, int | None], Player]  # (game, whole spec, text after the colon, seed)


SPECS: dict[str, SpecKind] = {
    "random": SpecKind("random", _no_rest(lambda game, seed: RandomPlayer(seed))),
    "human": SpecKind("human", _no_rest(lambda game, seed: HumanPlayer(game))),
    "minimax": SpecKind("minimax[:DEPTH]", _minimax),
    "mcts": SpecKind("mcts:SIMS[,key=value...]", _mcts),
    "openspiel-mcts": SpecKind("openspiel-mcts:SIMS", _openspiel_mcts),
    "gnugo": SpecKind("gnugo[:LEVEL]", _gnugo),
}
SPEC_FORMS = [k.form for k in SPECS.values()] + ["PATH[:SIMS[,key=value...]] (a checkpoint or run directory)"]


def make_player(spec: str, game: Game, seed: int | None = None) -> Player:
    s = str(spec).strip()
    prefix, _, rest = s.partition(":")
    kind = SPECS.get(prefix.lower())
    if kind is not None:  # a prefix wins over a path of the same name (the repository has an mcts/ folder)
        return kind.build(game, s, rest.strip(), seed)
    path, sims, settings = _network_spec(s)
    if path is not None:
        return network_player(path, game, sims, seed, settings=settings, name=s if settings else None)
    raise PlayerSpecError(f"unknown player {spec!r}; valid forms: {', '.join(SPEC_FORMS)}.")


def _network_spec(spec: str) -> tuple[str | None, int, list[str]]:
    """`PATH` or `PATH:SIMS[,key=value...]` when PATH exists (a checkpoint file or a run
    directory): the path, the simulation count and the search settings."""
    head, sep, tail = spec.rpartition(":")
    sims, _, rest = tail.partition(",")
    if sep and sims.strip().isdigit() and os.path.exists(head):
        return head, int(sims), [p.strip() for p in rest.split(",") if p.strip()]
    if os.path.exists(spec):
        return spec, DEFAULT_NETWORK_SIMULATIONS, []
    return None, 0, []


def network_search_settings(simulations: int) -> dict:
    """How a network player searches unless told otherwise (training's evaluation agent too)."""
    return SEARCH_DEFAULTS["network"].settings(simulations)


def network_player(path: str, game: Game, simulations: int = DEFAULT_NETWORK_SIMULATIONS, seed=None,
                   device: str = "auto", settings: list[str] | None = None, name: str | None = None) -> MCTSPlayer:
    """Our search guided by the network in a checkpoint (or a run directory's best one);
    `settings` are `key=value` search settings over SEARCH_DEFAULTS["network"]."""
    # imported here, not at the top: torch adds seconds to the start of every `move37 gtp` and
    # `move37 play` that needs no network (rollout search, GNU Go)
    from engine.nets.checkpoint import CheckpointError, load, network_from, resolve_path
    from engine.nets.inference import NetworkEvaluator

    if simulations < 1:
        raise PlayerSpecError("the simulation count must be at least 1.")
    try:
        net = network_from(load(resolve_path(path), game.name), game)
    except CheckpointError as e:
        raise PlayerSpecError(str(e)) from None
    spec = name or f"{path}:{simulations}"
    config, extras = search_settings(settings or [], spec, network_search_settings(simulations),
                                     {"seed": 0, "precision": "auto"})
    # int8 calibration: no self-play positions at hand, so random games span the game
    calibration = random_game_observations(game) if extras["precision"] == "int8" else None
    try:
        evaluator = NetworkEvaluator(net, device, precision=extras["precision"], calibration=calibration)
    except ValueError as e:
        raise PlayerSpecError(f"player {spec!r}: {e}") from None
    return MCTSPlayer(game, config, seed=extras["seed"] or seed, name=spec, evaluator=evaluator)
