"""The batched search driver: many trees in lockstep, one simulation wave at a time.

    result = mcts.search(game, states, evaluator, mcts.SearchConfig(num_simulations=200), rng=rng)

A wave is: `select` (one numba call over every tree, up to `leaves_per_wave` leaves each),
expand (one game batch kernel call for native games, a Python loop for OpenSpiel games),
evaluate (one evaluator call on all new leaves), `backup` (one numba call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from games.base import Game, State
from games.native import NativeGame
from mcts import compiled as _compiled
from mcts import kernels as K
from mcts.config import SearchConfig
from mcts.tree import Expansion, Tree, Wave


@dataclass
class SearchResult:
    visit_counts: np.ndarray  # (B, A) root child visits
    policy_target: np.ndarray  # (B, A) visit distribution (PUCT) or completed-Q policy (Gumbel)
    root_value: np.ndarray  # (B,) from the view of each root's player to move
    action: np.ndarray  # (B,) chosen action
    tree: "SearchTree" = field(repr=False)


@lru_cache(maxsize=64)
def halving_table(max_considered: int, num_simulations: int) -> np.ndarray:
    """Sequential halving as a schedule: row m, column k = the visit count the root action
    chosen at simulation k must have, when m actions are considered. Each phase spreads an
    equal share of the budget over the surviving actions, then halves them."""
    table = np.zeros((max_considered + 1, num_simulations), np.int32)
    for m in range(1, max_considered + 1):
        if m == 1:
            table[m] = np.arange(num_simulations)
            continue
        phases = math.ceil(math.log2(m))
        seq: list[int] = []
        visits = [0] * m
        alive = m
        while len(seq) < num_simulations:
            extra = max(1, num_simulations // (phases * alive))
            for _ in range(extra):
                seq.extend(visits[:alive])
                for i in range(alive):
                    visits[i] += 1
            alive = max(2, alive // 2)
        table[m] = seq[:num_simulations]
    return table


class SearchTree:
    """Trees plus the states of their nodes, kept between searches for tree reuse."""

    def __init__(self, game: Game, batch: int, capacity: int):
        self.game = game
        self.tree = Tree.empty(batch, capacity, game.num_actions)
        self.native = isinstance(game, NativeGame)
        if self.native:
            self.states = np.zeros((batch, capacity, game.state_size), np.int64)
        else:
            self.states = [dict() for _ in range(batch)]
        self.valid = np.zeros(batch, bool)  # root holds a searched position
        self.histories: list[list[int] | None] = [None] * batch
        self.clean_root_prior = np.zeros((batch, game.num_actions), np.float32)

    def ensure_capacity(self, capacity: int) -> None:
        if capacity <= self.tree.capacity:
            return
        capacity = max(capacity, 2 * self.tree.capacity)
        old = self.tree.capacity
        self.tree = self.tree.grown(capacity)
        if self.native:
            states = np.zeros((self.tree.batch, capacity, self.game.state_size), np.int64)
            states[:, :old] = self.states
            self.states = states

    def advance(self, b: int, action: int) -> None:
        """Keep the subtree of `action` as tree b's new root (no root noise carried over); the
        next search on the position after `action` continues from it."""
        t = self.tree
        child = t.children[b, 0, action] if self.valid[b] else -1
        if child < 0 or not t.expanded[b, child] or (t.solved[b, child] and (t.children[b, child] < 0).all()):
            self.valid[b] = False  # nothing searched below (a node solved by the win check)
            return
        order, remap = K.subtree_order(t.children, b, int(child), int(t.num_nodes[b]))
        n = len(order)
        for name in ("visits", "value_sum", "raw_value", "prior", "legal", "to_play", "expanded", "solved",
                     "solved_value", "action"):
            arr = getattr(t, name)
            arr[b, :n] = arr[b, order]
            arr[b, n:] = 0
        kids = t.children[b, order]
        t.children[b, :n] = np.where(kids >= 0, remap[np.maximum(kids, 0)], -1)
        t.children[b, n:] = -1
        parents = t.parent[b, order]
        t.parent[b, :n] = np.where(parents >= 0, remap[np.maximum(parents, 0)], -1)
        t.parent[b, 0] = -1
        t.parent[b, n:] = -1
        t.action[b, 0] = -1
        t.num_nodes[b] = n
        if self.native:
            self.states[b, :n] = self.states[b, order]
        else:
            self.states[b] = {int(remap[k]): s for k, s in self.states[b].items() if remap[k] >= 0}
        self.clean_root_prior[b] = t.prior[b, 0]
        if self.histories[b] is not None:
            self.histories[b] = self.histories[b] + [int(action)]

    def select(self, rows) -> "SearchTree":
        """The trees at `rows` as a new batch, -1 giving a fresh one: self-play's batch of
        games shrinks as games end and grows as forks join, and each keeps its own tree."""
        rows = np.asarray(rows, np.int64)
        src = np.maximum(rows, 0)
        new = SearchTree.__new__(SearchTree)
        new.game, new.native = self.game, self.native
        new.tree = self.tree.rows(src)
        new.states = self.states[src] if self.native else [dict(self.states[r]) if r >= 0 else {} for r in rows]
        new.valid = self.valid[src] & (rows >= 0)
        new.histories = [self.histories[r] if r >= 0 else None for r in rows]
        new.clean_root_prior = self.clean_root_prior[src]
        return new

    def matches(self, b: int, state: State) -> bool:
        """Whether tree b's root is this state's position (same move list, and for native games
        the same state array, which also tells apart positions set up without moves)."""
        if not self.valid[b] or self.histories[b] != state.history():
            return False
        return not self.native or np.array_equal(self.states[b, 0], state.array)

    # ---- state side table ----------------------------------------------------------------
    def state_rows(self, b_idx: np.ndarray, node_idx: np.ndarray):
        if self.native:
            return self.states[b_idx, node_idx]
        return [self.states[b][n] for b, n in zip(b_idx.tolist(), node_idx.tolist())]

    def store(self, b_idx: np.ndarray, node_idx: np.ndarray, children) -> None:
        if self.native:
            self.states[b_idx, node_idx] = children
        else:
            for b, n, s in zip(b_idx.tolist(), node_idx.tolist(), children):
                self.states[b][n] = s


def _expand(game: Game, tree: SearchTree, parents, actions: np.ndarray):
    """Children of (parent state, action) pairs: states, legal masks, terminal flags, player-0
    returns, observations and players to move."""
    if tree.native:
        out = game.step_batch(parents, actions)
        return out.states, out.legal_masks, out.terminal, out.returns[:, 0], out.observations, out.states[:, 0]
    kids = [p.child(int(a)) for p, a in zip(parents, actions)]
    masks = np.stack([k.legal_mask() for k in kids])
    terminal = np.array([k.is_terminal() for k in kids])
    returns0 = np.array([k.returns()[0] for k in kids], np.float32)
    obs = np.stack([k.observation() for k in kids]).astype(np.float32)
    players = np.array([k.current_player() for k in kids], np.int64)
    return kids, masks, terminal, returns0, obs, players


def _winning_moves(game: Game, native: bool, states, masks: np.ndarray, players: np.ndarray) -> np.ndarray:
    """(n, A): the legal moves that end the game with a win for the player to move. Only games
    whose rules let one move win (`wins_in_one_move`) are checked; for others all False."""
    wins = np.zeros(masks.shape, bool)
    if not getattr(game, "wins_in_one_move", False) or not len(masks):
        return wins
    rows, acts = np.nonzero(masks)
    if native:
        out = game.step_batch(states[rows], acts)
        terminal, returns = out.terminal, out.returns
    else:
        kids = [states[r].child(int(a)) for r, a in zip(rows.tolist(), acts.tolist())]
        terminal = np.array([k.is_terminal() for k in kids])
        returns = np.array([k.returns() for k in kids], np.float32).reshape(len(kids), -1)
    mover = np.asarray(players, np.int64)[rows]
    won = terminal & (returns[np.arange(len(rows)), np.minimum(mover, returns.shape[1] - 1)] >= 1.0)
    wins[rows[won], acts[won]] = True
    return wins


def _normalised(priors: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Priors restricted to legal moves and summing to 1."""
    p = np.where(masks, priors, 0).astype(np.float32, copy=False)
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)


def _to_player0(values: np.ndarray, players: np.ndarray) -> np.ndarray:
    return np.where(players == 0, values, -values).astype(np.float32)


def _init_roots(game, tree: SearchTree, states: list[State], todo: np.ndarray, evaluator,
                win_check: bool = False) -> None:
    t = tree.tree
    t.visits[todo] = 0
    t.value_sum[todo] = 0
    t.children[todo] = -1
    t.parent[todo] = -1
    t.expanded[todo] = False
    t.solved[todo] = False
    roots = [states[i] for i in todo]
    if tree.native:
        arr = np.stack([s.array for s in roots])
        masks, obs = game.observe_batch(arr)
        players = arr[:, 0]
        tree.states[todo, 0] = arr
        eval_states = arr
    else:
        masks = np.stack([s.legal_mask() for s in roots])
        obs = np.stack([s.observation() for s in roots]).astype(np.float32)
        players = np.array([s.current_player() for s in roots])
        for i, s in zip(todo.tolist(), roots):
            tree.states[i] = {0: s.clone()}
        eval_states = [s.clone() for s in roots]
    priors, values = evaluator.evaluate(obs, masks, states=eval_states)
    priors = _normalised(priors, masks)
    if win_check:  # a root with a winning move puts most of its prior there: found at the first visit
        wins = _winning_moves(game, tree.native, eval_states, masks, players)
        has = wins.any(axis=1)
        priors[has] = 0.9 * wins[has] / wins[has].sum(axis=1, keepdims=True) + 0.1 * priors[has]
    t.prior[todo, 0] = priors
    t.legal[todo, 0] = masks
    t.to_play[todo, 0] = players
    t.raw_value[todo, 0] = _to_player0(np.asarray(values, np.float32), players)
    t.value_sum[todo, 0] = t.raw_value[todo, 0]
    t.visits[todo, 0] = 1
    t.expanded[todo, 0] = True
    t.num_nodes[todo] = 1
    tree.clean_root_prior[todo] = priors
    tree.valid[todo] = True
    for i, s in zip(todo.tolist(), roots):
        tree.histories[i] = s.history()


def _prepare_roots(tree: SearchTree, config: SearchConfig, rng: np.random.Generator) -> None:
    """Fresh root noise: Dirichlet on the priors (PUCT) or Gumbel samples (Gumbel)."""
    t = tree.tree
    t.prior[:, 0] = tree.clean_root_prior
    legal = t.legal[:, 0]
    n_legal = legal.sum(axis=1)
    if config.algorithm == "puct" and config.dirichlet_fraction > 0:
        for b in range(t.batch):
            idx = np.flatnonzero(legal[b])
            alpha = config.dirichlet_alpha or 10.0 / max(len(idx), 1)
            noise = rng.dirichlet(np.full(len(idx), alpha))
            f = config.dirichlet_fraction
            t.prior[b, 0, idx] = (1 - f) * t.prior[b, 0, idx] + f * noise
    if config.algorithm == "gumbel":
        g = rng.gumbel(size=legal.shape).astype(np.float32) * config.gumbel_scale
        t.gumbel[:] = np.where(legal, g, 0)
        t.considered[:] = np.minimum(n_legal, config.max_considered)


def search(game: Game, states, evaluator, config: SearchConfig | None = None, rng=None,
           tree: SearchTree | None = None, compiled: bool = True) -> SearchResult:
    """Search from every state (a list of State objects, all non-terminal) and pick actions.

    Pass the `tree` of an earlier result (after `tree.advance`) to continue from its subtrees;
    trees whose root does not match the given state start fresh. Rollout search on a native
    game runs in one compiled call (mcts/compiled.py) unless `compiled=False`, which keeps the
    wave-by-wave driver (the same search; tests compare the two).
    """
    config = config or SearchConfig()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    states = list(states)
    if not states:
        raise ValueError("search needs at least one state.")
    for s in states:
        if s.is_terminal():
            raise ValueError("cannot search from a finished game.")
    batch = len(states)
    if tree is None or tree.tree.batch != batch or tree.game is not game:
        tree = SearchTree(game, batch, config.num_simulations + 1)
    if config.algorithm == "gumbel":
        tree.valid[:] = False  # sequential halving starts from an unvisited root
    todo = np.array([b for b in range(batch) if not tree.matches(b, states[b])], np.int64)
    tree.ensure_capacity(int(tree.tree.num_nodes.max(initial=0)) + config.num_simulations + 1)
    if len(todo):
        _init_roots(game, tree, states, todo, evaluator, config.win_check)
    _prepare_roots(tree, config, rng)
    if compiled and _compiled.supports(game, evaluator):
        _run_compiled(game, tree, evaluator, config)
    else:
        _run(game, tree, evaluator, config)
    return _result(tree, config, rng)


def _run_compiled(game: NativeGame, tree: SearchTree, evaluator, config: SearchConfig) -> None:
    t = tree.tree
    t.sims_done[:] = 0
    B, K, A = t.batch, config.leaves_per_wave, t.num_actions
    schedule = halving_table(config.max_considered, config.num_simulations)[t.considered]
    leaves = Expansion(np.full((B, K), -1, np.int64), np.zeros((B * K, A), np.float32), np.zeros((B * K, A), bool),
                       np.zeros(B * K, np.int8), np.zeros(B * K, bool), np.zeros(B * K, np.float32))
    win_check = bool(config.win_check and getattr(game, "wins_in_one_move", False))
    _compiled.rollout_search(t, config.kernel_params(), schedule, Wave.empty(B, K), leaves, tree.states, game.consts,
                             np.int64(evaluator.num_rollouts), win_check, np.int64(evaluator.next_seed()))


def _run(game: Game, tree: SearchTree, evaluator, config: SearchConfig) -> None:
    t = tree.tree
    t.sims_done[:] = 0
    params = config.kernel_params()
    schedule = halving_table(config.max_considered, config.num_simulations)[t.considered]  # (B, S)
    wave = Wave.empty(t.batch, config.leaves_per_wave)
    index = np.full((t.batch, config.leaves_per_wave), -1, np.int64)
    A = t.num_actions
    while int(t.sims_done.min()) < config.num_simulations:
        K.select(t, params, schedule, wave)
        b_idx, k_idx = np.nonzero(wave.kind == K.EXPAND)
        n_new = len(b_idx)
        index.fill(-1)
        index[b_idx, k_idx] = np.arange(n_new)
        if n_new:
            leaf_nodes = wave.node[b_idx, k_idx]
            parent_nodes = t.parent[b_idx, leaf_nodes]
            actions = t.action[b_idx, leaf_nodes].astype(np.int64)
            parents = tree.state_rows(b_idx, parent_nodes)
            kids, masks, terminal, returns0, obs, players = _expand(game, tree, parents, actions)
            tree.store(b_idx, leaf_nodes, kids)
            if config.win_check:  # a leaf whose mover can win at once is solved: a win for that mover
                live = np.flatnonzero(~terminal)
                live_states = kids[live] if tree.native else [kids[i] for i in live]
                won = live[_winning_moves(game, tree.native, live_states, masks[live], players[live]).any(axis=1)]
                terminal[won] = True  # both arrays are this wave's own
                returns0[won] = np.where(players[won] == 0, 1.0, -1.0)
            if not terminal.any():  # the common wave: evaluate everything, no copies
                p, v = evaluator.evaluate(obs, masks, states=kids)
                priors = _normalised(p, masks)
                values0 = _to_player0(np.asarray(v, np.float32), players)
            else:
                priors = np.zeros((n_new, A), np.float32)
                values0 = returns0.astype(np.float32)
                live = np.flatnonzero(~terminal)
                if len(live):
                    live_states = kids[live] if tree.native else [kids[i] for i in live]
                    p, v = evaluator.evaluate(obs[live], masks[live], states=live_states)
                    priors[live] = _normalised(p, masks[live])
                    values0[live] = _to_player0(np.asarray(v, np.float32), players[live])
        else:
            priors = np.zeros((0, A), np.float32)
            masks = np.zeros((0, A), bool)
            players = np.zeros(0, np.int64)
            terminal = np.zeros(0, bool)
            values0 = np.zeros(0, np.float32)
        K.backup(t, wave, Expansion(index, priors, masks, players.astype(np.int8), terminal, values0))


def _result(tree: SearchTree, config: SearchConfig, rng: np.random.Generator) -> SearchResult:
    t = tree.tree
    visits = t.root_child_visits()
    B, A = visits.shape
    legal = t.legal[:, 0]
    if config.algorithm == "gumbel":
        policy = np.zeros((B, A), np.float64)
        actions = np.zeros(B, np.int64)
        scores = np.empty(A)
        for b in range(B):
            K.gumbel_improved_policy(t, b, 0, config.c_visit, config.c_scale, policy[b])
            K.gumbel_root_scores(t, b, int(visits[b].max()), config.c_visit, config.c_scale, scores)
            actions[b] = int(np.argmax(scores))
    else:
        policy = visits / np.maximum(visits.sum(axis=1, keepdims=True), 1)
        actions = _puct_actions(t, visits, config.temperature, rng)
    for b in range(B):  # a proven win at the root is played and is the policy target, whatever the counts say
        win = _proven_win(t, b)
        if win >= 0:
            actions[b] = win
            policy[b] = 0.0
            policy[b, win] = 1.0
    if not np.all(legal[np.arange(B), actions]):
        bad = int(np.flatnonzero(~legal[np.arange(B), actions])[0])
        raise RuntimeError(f"the search chose illegal action {int(actions[bad])} in tree {bad}; "
                           "this is a bug in move37's search, please report it.")
    return SearchResult(visits, policy.astype(np.float32), t.root_value(), actions, tree)


def _proven_win(t: Tree, b: int) -> int:
    if not t.solved[b, 0]:
        return -1
    sgn = 1.0 if t.to_play[b, 0] == 0 else -1.0
    best, best_v = -1, -2.0
    for a in np.flatnonzero(t.legal[b, 0]):
        ch = t.children[b, 0, a]
        if ch >= 0 and t.solved[b, ch] and sgn * t.solved_value[b, ch] > best_v:
            best, best_v = int(a), sgn * t.solved_value[b, ch]
    return best if best_v >= 1.0 else -1


def _puct_actions(t: Tree, visits: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """The most visited root action (ties: higher mean value, then higher prior), or a sample
    from N^(1/T). Children proven lost are avoided while anything else is legal."""
    B = t.batch
    rows = np.arange(B)[:, None]
    legal = t.legal[:, 0]
    kids = t.children[:, 0]
    k = np.maximum(kids, 0)
    sgn = np.where(t.to_play[:, 0] == 0, 1.0, -1.0)[:, None]
    visited = (kids >= 0) & (t.visits[rows, k] > 0)
    q = np.where(visited, sgn * t.value_sum[rows, k] / np.maximum(t.visits[rows, k], 1), -1.0)
    lost = (kids >= 0) & t.solved[rows, k] & (sgn * t.solved_value[rows, k] <= -1.0) & legal
    avoid = lost & ~np.all(lost | ~legal, axis=1, keepdims=True)
    counts = np.where(avoid, 0, visits).astype(np.float64)
    if temperature > 0:
        actions = np.empty(B, np.int64)
        for b in range(B):
            p = np.where(legal[b] & ~avoid[b], counts[b], 0.0) ** (1.0 / temperature)
            actions[b] = rng.choice(len(p), p=p / p.sum()) if p.sum() > 0 else np.argmax(np.where(legal[b], t.prior[b, 0], -1))
        return actions
    # lexicographic: visits, then mean value (in [0, 2] after the shift), then prior (in [0, 1])
    score = counts * 8.0 + (q + 1.0) * 2.0 * visited + t.prior[:, 0] * 0.5
    score = np.where(legal & ~avoid, score, -np.inf)
    return np.argmax(score, axis=1)
