"""Training settings: one dataclass with the search's settings nested in it, per-game values
in bundled TOML files, overrides from a --config file and key=value arguments; the resolved
settings go to the run directory. Every setting carries a one-line description, printed by
`move37 train GAME --settings`.

Keys: a field name (`games_per_iteration=128`), or `search.FIELD` for the self-play search
(`search.c_init=1.5`; in TOML a `[search]` table). Run directories written before the search
was nested keep working: `simulations`, `algorithm`, `leaves_per_wave`, `dirichlet_fraction`
and `win_check` are read as `search.*` (ALIASES).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, fields
from importlib import resources

from mcts import SearchConfig
from mcts.settings import describe, replace_from, setting

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ALIASES = {"simulations": "num_simulations", "algorithm": "algorithm", "leaves_per_wave": "leaves_per_wave",
           "dirichlet_fraction": "dirichlet_fraction", "win_check": "win_check"}  # flat key -> search.KEY


def _selfplay_search() -> SearchConfig:
    return SearchConfig(num_simulations=64, leaves_per_wave=4, dirichlet_fraction=0.25, win_check=True)


@dataclass
class TrainConfig:
    game: str = setting("tictactoe", "the game (see `move37 games`)")
    # network
    network: str = setting("", "network preset like b6c64 (blocks, channels); empty: the game's default size")
    # self-play
    search: SearchConfig = setting(
        factory=_selfplay_search, help="the full self-play search (recorded as a policy target); "
                                       "search.num_simulations is its simulation count")
    games_per_iteration: int = setting(64, "games in play at once (one batched search for all), and games per iteration")
    continuous: bool = setting(True, "a new game starts whenever one ends; unfinished games go on in the next iteration")
    fast_simulations: int = setting(16, "playout cap randomization: simulations of the cheap, unrecorded searches")
    full_search_share: float = setting(0.25, "share of moves that get the full, recorded search")
    temperature_moves: int = setting(4, "moves sampled from the visit counts before playing the most visited")
    random_opening_share: float = setting(0.0, "share of games that open with random, unrecorded moves")
    random_opening_moves: int = setting(0, "at most this many random opening moves (uniform from 1)")
    fork_share: float = setting(0.0, "chance per move that a copy of the game branches off after a random move")
    tree_reuse: bool = setting(False, "each game's next search starts from the subtree of the move played")
    root_value_share: float = setting(0.0, "value target = (1 - share) * game result + share * root value of the full search")
    score_value_share: float = setting(0.0, "games with a score (Go): result in the value target = (1 - share) * "
                                            "result + share * tanh(final margin / board side)")
    selfplay_threads: int = setting(0, "lockstep groups of games playing at once, one per thread; 0: one per torch "
                                       "CPU thread (each keeping at least 32 games), 1 on a GPU")
    ray_workers: int = setting(0, "with --ray: self-play actors, one lockstep group each; 0: one per CPU of the "
                                  "cluster (each keeping at least 32 games)")
    resign_threshold: float = setting(-1.0, "resign when the searched value is below this (-1: never)")
    resign_playout_share: float = setting(0.1, "share of games played out anyway, to count false resignations")
    # learning
    batch_size: int = setting(256, "positions per SGD step")
    learning_rate: float = setting(0.02, "base learning rate (cosine decay to a tenth of it over the planned run)")
    momentum: float = setting(0.9, "Nesterov momentum")
    weight_decay: float = setting(1e-4, "L2 weight decay")
    sample_reuse: float = setting(4.0, "average number of times a position is trained on")
    ownership_weight: float = setting(1.5, "games with an ownership target (Go): weight of that auxiliary loss (0: off)")
    replay_window: int = setting(50_000, "positions kept for training, newest first")
    # evaluation
    eval_games: int = setting(20, "games per evaluation opponent (0: no evaluation)")
    eval_every: int = setting(1, "evaluate every this many iterations (and at the last one)")
    eval_minutes: float = setting(0.0, "if > 0: evaluate once this many minutes have passed since the last one")
    eval_simulations: int = setting(64, "simulations per move of the evaluated agent")
    eval_opponents: str = setting("random,mcts:200", "player specs, comma-separated; best = the best earlier checkpoint")
    # run
    minutes: float = setting(3.0, "training time")
    iterations: int = setting(0, "iterations to run (0: as many as the minutes allow)")
    seed: int = setting(0, "seed of every random stream")
    device: str = setting("auto", "auto (CUDA when present), cpu or cuda[:N]")
    precision: str = setting("auto", "auto (bf16 on CUDA and on CPUs with native bf16 for large batches), fp32, "
                                     "bf16, or int8 (large self-play batches through an int8 copy on CPUs with VNNI)")

    def override(self, **values) -> "TrainConfig":
        """A copy with `values` set: flat keys, `search.KEY` keys, a `search` table (dict) and
        the old flat search keys (ALIASES) alike, each checked and typed."""
        search: dict = {}
        flat: dict = {}
        for key, value in values.items():
            if key == "search" and isinstance(value, dict):
                search.update(value)
            elif key.startswith("search."):
                search[key[len("search."):]] = value
            elif key in ALIASES:
                search[ALIASES[key]] = value
            else:
                flat[key] = value
        known = {f.name for f in fields(self)} - {"search"}
        for key in flat:
            if key not in known:
                raise ValueError(f"unknown training setting {key!r}; `move37 train GAME --settings` lists them all.")
        config = replace_from(self, flat)
        if search:
            config = dataclasses.replace(config, search=replace_from(self.search, search, prefix="search."))
        if config.selfplay_threads < 0:
            raise ValueError(f"training setting selfplay_threads is 0 (one per CPU core) or more, not {config.selfplay_threads}.")
        if config.ray_workers < 0:
            raise ValueError(f"training setting ray_workers is 0 (one per CPU of the cluster) or more, not {config.ray_workers}.")
        for key in known:
            if key.endswith("_share") and not 0.0 <= getattr(config, key) <= 1.0:
                raise ValueError(f"training setting {key} is a share and must be between 0 and 1, not {getattr(config, key)!r}.")
        return config

    def to_toml(self) -> str:
        lines = ["# move37 training settings, as resolved for this run"]
        lines += [f"{f.name} = {_toml(getattr(self, f.name))}" for f in fields(self) if f.name != "search"]
        lines += ["", "[search]"]
        lines += [f"{f.name} = {_toml(getattr(self.search, f.name))}" for f in fields(self.search)
                  if getattr(self.search, f.name) is not None]
        return "\n".join(lines) + "\n"


def _toml(v) -> str:
    if v is None:
        return "unset"
    return ("true" if v else "false") if isinstance(v, bool) else (f'"{v}"' if isinstance(v, str) else repr(v))


def settings_table(config: TrainConfig, generic: TrainConfig | None = None) -> list[tuple[str, str, str, str]]:
    """(key, value for this game, generic default, description) for every setting, search
    settings as search.KEY: what `move37 train GAME --settings` prints."""
    generic = generic or TrainConfig()
    rows = []
    for name, text in describe(TrainConfig).items():
        if name == "search":
            for key, help_ in describe(SearchConfig).items():
                rows.append((f"search.{key}", _toml(getattr(config.search, key)), _toml(getattr(generic.search, key)),
                             help_))
        else:
            rows.append((name, _toml(getattr(config, name)), _toml(getattr(generic, name)), text))
    return rows


def parse_assignments(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{item!r} is not of the form key=value.")
        out[key.strip()] = value.strip()
    return out


def load_toml(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ValueError(f"cannot read config file {path}: {e.strerror}.") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path} is not valid TOML: {e}.") from None


def defaults_for(game: str) -> TrainConfig:
    """The bundled defaults for a game (games without a file get the generic ones)."""
    base = TrainConfig(game=game)
    name = game.split("(")[0].replace(":", "_")
    try:
        text = resources.files("training.configs").joinpath(f"{name}.toml").read_text()
    except (FileNotFoundError, OSError):
        return base
    return base.override(**tomllib.loads(text))


def resolve(game: str, config_file: str | None = None, assignments: list[str] | None = None,
            saved: str | None = None, **cli) -> TrainConfig:
    """The game's bundled defaults, then a resumed run's own `config.toml` (`saved`, where it
    exists: a run continues with the settings it started with, in the old flat form too), then
    --config, then key=value assignments, then the CLI's flags."""
    config = defaults_for(game)
    if saved and os.path.exists(saved):
        config = config.override(**load_toml(saved))
    if config_file:
        config = config.override(**load_toml(config_file))
    config = config.override(**parse_assignments(assignments or []))
    return config.override(**{k: v for k, v in cli.items() if v is not None}, game=game)
