"""Self-play: many games in lockstep, one batched search per move for all of them.

Each move is a full search (recorded as a policy target) with probability
`full_search_share`, else a cheap one that is played but not recorded: KataGo's playout cap
randomization, which buys many more games (value targets) for the same compute. The first
`temperature_moves` moves of a game are sampled from the visit counts, later ones are the most
visited move; full searches add Dirichlet noise at the root.

With `random_opening_share`, that share of games starts with 1..`random_opening_moves` uniformly
random moves that are neither searched nor recorded: the games then reach positions greedy
self-play never visits, while every recorded position is still followed by searched play, so
its value target is not spoiled by a random move after it.

With `fork_share`, each move may also fork its game (at most `games_per_iteration` forks per
iteration): a copy plays one uniformly random move and continues as a game of its own, recorded
from the position after that move; the original goes on unchanged. Mid-game mistakes then get
punished and learned from (KataGo's side branches), again without spoiling any value target.

With `root_value_share` = m, a recorded position's value target is (1 - m) * the game's result
+ m * the full search's root value: less noisy than one game's result (a won game may hold moves
that threw the win away, undone by a later blunder), though biased by the network that searched.

With `score_value_share` = s (games with a score, Go), the game's result in those targets becomes
(1 - s) * result + s * tanh(final margin / board side), the margin from the player's view: a
half-point loss is then worth more than a twenty-point one, so a side whose every position
looks lost still has a better and a worse move (KataGo's score utility, moved into the target).

With `tree_reuse`, each game's next search continues from the subtree of the move it played
(AlphaZero's reuse), so a search of N simulations adds N to the visits already there; root noise
is drawn afresh on every search.

With `selfplay_threads` above 1, the games are split into that many lockstep groups that play
at once, one per thread (`ThreadedSelfPlay`): on a CPU one group's search (numba kernels, which
release the GIL) runs while another's network pass does, and each group's network passes use one
core instead of splitting small ops across all of them (docs/METHODS.md, "Self-play threads").
Each group has its own random stream, so the games do not depend on how the threads interleave.

Training plays through a `SelfPlay` whose games outlive an iteration: whenever a game ends, a new
one takes its place, and games still running when the iteration has its games go on under the
next network. Every search then sees the full lockstep, where games that all start together
and stop together spend their last moves waiting on the longest game with ever smaller network
batches (docs/METHODS.md, "Continuous self-play", has the figures).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

import mcts
from games.random_play import random_opening
from training.config import TrainConfig


@dataclass
class SelfPlayBatch:
    observations: np.ndarray  # (N, C, H, W) float32
    policies: np.ndarray  # (N, A) float32 search policy targets
    values: np.ndarray  # (N,) float32 value targets for the player to move (final result, maybe mixed with the root value)
    games: int
    moves: int  # all moves played, recorded or not
    search_seconds: float
    resigned: int = 0  # games ended by resignation
    false_resignations: int = 0  # in games played out: a side that would have resigned did not lose
    would_resign: int = 0  # sides that would have resigned in games played out
    owners: np.ndarray | None = None  # (N, H, W) final owner of each point for the mover (Go); NaN if resigned
    # The first player's mean score over the ended games (win 1, draw 1/2). Near 0 or 1, self-play
    # has settled into games one side always wins, and the value target then carries little more
    # than whose turn it is (docs/RESULTS.md, the Go hours).
    first_player_score: float = 0.5
    threads: int = 1  # lockstep groups that played at once; search_seconds sums over them
    # Self-play on Ray (training/ray_selfplay.py): the nodes its actors played on (0: not on
    # Ray), games in play on workers that died (dropped, never half-written), tasks resubmitted
    # after such a loss, and the driver's seconds spent sending weights and receiving games.
    nodes: int = 0
    lost_games: int = 0
    lost_tasks: int = 0
    send_seconds: float = 0.0
    receive_seconds: float = 0.0


def opening_state(game, config: TrainConfig, rng: np.random.Generator):
    """The start of one self-play game: the initial state, or after a random opening."""
    state = game.new_initial_state()
    if config.random_opening_moves > 0 and rng.random() < config.random_opening_share:
        for action in random_opening(game, int(rng.integers(1, config.random_opening_moves + 1)), rng):
            state.apply_action(action)
    return state


@dataclass
class _Game:
    state: object
    play_out: bool  # never resigns, so that false resignations can be counted
    records: list = field(default_factory=list)  # (observation, policy target, player, root value)
    would_resign: set = field(default_factory=set)  # sides that would have resigned (played-out games)
    resigned_winner: int | None = None


class SelfPlay:
    """Self-play games in lockstep. With `refill` (training), each `play` call keeps
    `games_per_iteration` games running, starting a new game whenever one ends, and returns once
    that many games plus the call's forks have ended, as a call without refill would; games still
    running carry over to the next call, under that call's evaluator. Without it, `play` starts
    `games_per_iteration` games and plays them all to the end."""

    def __init__(self, game, config: TrainConfig, refill: bool = True):
        if config.score_value_share > 0 and not hasattr(game, "area_score"):
            raise ValueError(f"score_value_share needs a game with a score (Go); {game.name} has none.")
        self.game, self.config, self.refill = game, config, refill
        self.live: list[_Game] = []

    def _start(self, rng: np.random.Generator) -> _Game:
        return _Game(opening_state(self.game, self.config, rng), bool(rng.random() < self.config.resign_playout_share))

    def play(self, evaluator, rng: np.random.Generator) -> SelfPlayBatch:
        config = self.config
        n = config.games_per_iteration
        full = config.search
        fast = dataclasses.replace(full, num_simulations=config.fast_simulations, dirichlet_fraction=0.0)
        if not self.refill:
            self.live = [self._start(rng) for _ in range(n)]
        ended: list[_Game] = []
        forks = moves = 0
        search_seconds = 0.0
        resigning = config.resign_threshold > -1.0
        tree, rows = None, {}  # with tree_reuse: the last search's trees, and each game's row in them
        while True:
            if self.refill:
                if len(ended) >= n + forks:
                    break
                self.live += [self._start(rng) for _ in range(n - len(self.live))]
            elif not self.live:
                break
            is_full = rng.random() < config.full_search_share
            t0 = time.perf_counter()
            if tree is not None:
                order = [rows.get(id(g), -1) for g in self.live]
                if order != list(range(tree.tree.batch)):
                    tree = tree.select(order)
            states = [g.state for g in self.live]
            result = mcts.search(self.game, states, evaluator, full if is_full else fast, rng, tree)
            if config.tree_reuse:
                tree, rows = result.tree, {id(g): j for j, g in enumerate(self.live)}
            search_seconds += time.perf_counter() - t0
            born: list[_Game] = []  # forks made this step join the next search
            for j, g in enumerate(self.live):
                s = g.state
                if resigning and result.root_value[j] < config.resign_threshold:
                    if g.play_out:
                        g.would_resign.add(s.current_player())
                    else:
                        g.resigned_winner = 1 - s.current_player()
                        continue
                if is_full:
                    g.records.append((s.observation(), result.policy_target[j], s.current_player(),
                                      float(result.root_value[j])))
                # PUCT's policy target is the visit share, except that a proven win takes all of it
                visits = (result.policy_target[j] if full.algorithm == "puct"
                          else result.visit_counts[j]).astype(np.float64)
                if len(s.history()) < config.temperature_moves and visits.sum() > 0:
                    action = int(rng.choice(len(visits), p=visits / visits.sum()))
                else:
                    action = int(result.action[j])
                s.apply_action(action)
                if tree is not None:
                    tree.advance(j, action)
                moves += 1
                if forks < n and config.fork_share > 0 and not s.is_terminal() and rng.random() < config.fork_share:
                    fork = s.clone()
                    fork.apply_action(int(rng.choice(fork.legal_actions())))
                    if not fork.is_terminal():
                        born.append(_Game(fork, False))
                        forks += 1
            ended += [g for g in self.live if g.state.is_terminal() or g.resigned_winner is not None]
            self.live = [g for g in self.live + born if not g.state.is_terminal() and g.resigned_winner is None]
        return self._batch(ended, moves, search_seconds)

    def _batch(self, ended: list[_Game], moves: int, search_seconds: float) -> SelfPlayBatch:
        game = self.game
        obs, pol, val, own = [], [], [], []
        false_resignations = 0
        first_player = 0.0
        ownership = getattr(game, "ownership", None)
        score_share = self.config.score_value_share
        side = float(np.sqrt(np.prod(game.observation_shape[1:])))
        for g in ended:
            if g.resigned_winner is not None:
                returns = np.array([1.0, -1.0] if g.resigned_winner == 0 else [-1.0, 1.0], np.float32)
                owner = np.full(game.observation_shape[1:], np.nan, np.float32) if ownership else None
            else:
                returns = g.state.returns()
                false_resignations += sum(1 for p in g.would_resign if returns[p] >= 0)
                owner = ownership(g.state) if ownership else None  # player 0's view
            first_player += (1.0 + float(returns[0])) / 2
            if score_share > 0 and g.resigned_winner is None:
                margin = game.area_score(g.state)  # the first player's lead
                returns = (1.0 - score_share) * returns + score_share * np.tanh(np.array([margin, -margin]) / side)
            m = self.config.root_value_share
            for o, p, player, q in g.records:
                obs.append(o)
                pol.append(p)
                val.append((1.0 - m) * returns[player] + m * q)
                if ownership:
                    own.append(owner if player == 0 else -owner)
        A = game.num_actions
        return SelfPlayBatch(
            np.stack(obs).astype(np.float32) if obs else np.zeros((0, *game.observation_shape), np.float32),
            np.stack(pol).astype(np.float32) if pol else np.zeros((0, A), np.float32),
            np.asarray(val, np.float32), len(ended), moves, search_seconds,
            sum(g.resigned_winner is not None for g in ended), false_resignations,
            sum(len(g.would_resign) for g in ended),
            (np.stack(own) if own else np.zeros((0, *game.observation_shape[1:]), np.float32)) if ownership else None,
            first_player / len(ended) if ended else 0.5)


# A group keeps at least this many games, so its network batches stay large.
MIN_GAMES_PER_THREAD = 32


def selfplay_threads(config: TrainConfig, device: torch.device) -> int:
    """How many lockstep groups play at once: `selfplay_threads`, or with 0 (auto) one per
    torch CPU thread as long as each group keeps MIN_GAMES_PER_THREAD games, and one on a GPU
    (not measured there)."""
    if config.selfplay_threads > 0:
        return min(config.selfplay_threads, config.games_per_iteration)
    if device.type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), config.games_per_iteration // MIN_GAMES_PER_THREAD))


class ThreadedSelfPlay:
    """`threads` SelfPlay groups, each with its share of `games_per_iteration`, playing at once
    in threads; `play` returns their games as one batch."""

    def __init__(self, game, config: TrainConfig, refill: bool = True, threads: int = 1):
        n = config.games_per_iteration
        shares = [n // threads + (i < n % threads) for i in range(threads)]
        self.groups = [SelfPlay(game, dataclasses.replace(config, games_per_iteration=k), refill) for k in shares]

    @property
    def threads(self) -> int:
        return len(self.groups)

    def play(self, evaluator, rng: np.random.Generator) -> SelfPlayBatch:
        if len(self.groups) == 1:
            return self.groups[0].play(evaluator, rng)
        seeds = rng.integers(0, 2**63, size=len(self.groups))
        fork = getattr(evaluator, "fork", None)  # stateless evaluators are shared as they are
        evaluators = [evaluator] + [fork() if fork else evaluator for _ in self.groups[1:]]
        torch_threads = torch.get_num_threads()
        per_group = max(1, torch_threads // len(self.groups))
        results: list[SelfPlayBatch | None] = [None] * len(self.groups)
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                torch.set_num_threads(per_group)
                results[i] = self.groups[i].play(evaluators[i], np.random.default_rng(seeds[i]))
            except BaseException as e:  # raised again in the calling thread
                errors.append(e)

        workers = [threading.Thread(target=work, args=(i,), name=f"selfplay-{i}", daemon=True)
                   for i in range(len(self.groups))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        torch.set_num_threads(torch_threads)
        if fork:
            for other in evaluators[1:]:
                evaluator.absorb(other)
        if errors:
            raise errors[0]
        return merge_batches(results)


def merge_batches(batches: list[SelfPlayBatch]) -> SelfPlayBatch:
    """The games of several groups as one batch."""
    games = sum(b.games for b in batches)
    owners = [b.owners for b in batches]
    return SelfPlayBatch(
        np.concatenate([b.observations for b in batches]), np.concatenate([b.policies for b in batches]),
        np.concatenate([b.values for b in batches]), games, sum(b.moves for b in batches),
        sum(b.search_seconds for b in batches), sum(b.resigned for b in batches),
        sum(b.false_resignations for b in batches), sum(b.would_resign for b in batches),
        None if owners[0] is None else np.concatenate(owners),
        sum(b.first_player_score * b.games for b in batches) / games if games else 0.5, len(batches))


def play_games(game, evaluator, config: TrainConfig, rng: np.random.Generator) -> SelfPlayBatch:
    """`games_per_iteration` games (and their forks), all played to the end."""
    return SelfPlay(game, config, refill=False).play(evaluator, rng)
