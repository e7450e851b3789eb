"""Training settings: one flat dataclass, per-game defaults in bundled TOML files, overrides
from a --config file and key=value arguments; the resolved settings go to the run directory."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, fields
from importlib import resources

from engine.players import parse_bool

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


@dataclass
class TrainConfig:
    game: str = "tictactoe"
    # network
    network: str = ""  # preset like b6c64; "" = the game's default size
    # self-play
    games_per_iteration: int = 64  # games in play at once (one batched search for all), and games per iteration
    continuous: bool = True  # a new game starts whenever one ends; unfinished games go on in the next iteration
    simulations: int = 64  # full searches (recorded as policy targets)
    fast_simulations: int = 16  # playout cap randomization: cheap searches, not recorded
    full_search_share: float = 0.25
    algorithm: str = "puct"
    leaves_per_wave: int = 4
    dirichlet_fraction: float = 0.25
    win_check: bool = True  # search solves a node whose mover can win at once (k-in-a-row games)
    temperature_moves: int = 4  # moves sampled from the visit counts before playing the best
    random_opening_share: float = 0.0  # share of games that open with random, unrecorded moves
    random_opening_moves: int = 0  # at most this many (uniform from 1)
    fork_share: float = 0.0  # chance per move that a copy of the game branches off after a random move
    tree_reuse: bool = False  # each game's next search starts from the subtree of the move played
    root_value_share: float = 0.0  # value target = (1 - share) * game result + share * full search's root value
    # games with a score (Go): the result in the value target becomes
    # (1 - share) * result + share * tanh(final margin / board side)
    score_value_share: float = 0.0
    # lockstep groups of games playing at once, one per thread; 0: one per torch CPU thread (each
    # group keeping at least 32 games), 1 on a GPU
    selfplay_threads: int = 0
    resign_threshold: float = -1.0  # resign when the searched value is below this (-1: never)
    resign_playout_share: float = 0.1  # games played out anyway, to count false resignations
    # learning
    batch_size: int = 256
    learning_rate: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    sample_reuse: float = 4.0  # average number of times a position is trained on
    ownership_weight: float = 1.5  # games with an ownership target (Go): weight of that auxiliary loss (0: off)
    replay_window: int = 50_000
    # evaluation
    eval_games: int = 20
    eval_every: int = 1  # evaluate every this many iterations (and at the last one)
    eval_minutes: float = 0.0  # if > 0: evaluate once this many minutes have passed since the last one
    eval_simulations: int = 64
    eval_opponents: str = "random,mcts:200"  # player specs; "best" = the best earlier checkpoint
    # run
    minutes: float = 3.0
    iterations: int = 0  # 0: as many as the minutes allow
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 on CUDA and on CPUs with native bf16 for large batches; fp32; bf16;
    # int8: large self-play batches through an int8 copy on CPUs with VNNI, training steps as auto

    def override(self, **values) -> "TrainConfig":
        known = {f.name: f.type for f in fields(self)}
        clean = {}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown training setting {key!r}; known: {', '.join(known)}.")
            default = getattr(self, key)
            try:
                if isinstance(default, bool):
                    clean[key] = value if isinstance(value, bool) else parse_bool(value)
                elif isinstance(default, (int, float)):
                    clean[key] = type(default)(value)
                else:
                    clean[key] = str(value)
            except ValueError:
                kind = "true or false" if isinstance(default, bool) else f"a {type(default).__name__}"
                raise ValueError(f"training setting {key} needs {kind}, not {value!r}.") from None
            if key == "selfplay_threads" and clean[key] < 0:
                raise ValueError(f"training setting selfplay_threads is 0 (one per CPU core) or more, not {value!r}.")
            if key.endswith("_share") and not 0.0 <= clean[key] <= 1.0:
                raise ValueError(f"training setting {key} is a share and must be between 0 and 1, not {value!r}.")
        return dataclasses.replace(self, **clean)

    def to_toml(self) -> str:
        lines = ["# move37 training settings, as resolved for this run"]
        for f in fields(self):
            v = getattr(self, f.name)
            text = ("true" if v else "false") if isinstance(v, bool) else (f'"{v}"' if isinstance(v, str) else repr(v))
            lines.append(f"{f.name} = {text}")
        return "\n".join(lines) + "\n"


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


def resolve(game: str, config_file: str | None = None, assignments: list[str] | None = None, **cli) -> TrainConfig:
    config = defaults_for(game)
    if config_file:
        config = config.override(**load_toml(config_file))
    config = config.override(**parse_assignments(assignments or []))
    return config.override(**{k: v for k, v in cli.items() if v is not None}, game=game)
