"""A plain-Python MCTS over the State API, written from the formulas, to check the numba
search against: PUCT with AlphaZero's log-growing c, first-play urgency, Dirichlet root noise,
the MCTS-solver rule, waves of several leaves kept apart by virtual loss, and Gumbel search
(Gumbel-top-k at the root with sequential halving, completed Q, deterministic selection below).

Nothing here is imported from mcts/: the schedule, the scores and the wave bookkeeping are
written out again, one node object at a time.
"""

from __future__ import annotations

import math

import numpy as np

NEG_INF = -1e30


class Node:
    def __init__(self, state, parent=None):
        self.state = state
        self.parent = parent
        self.visits = 0
        self.value_sum = 0.0  # player 0's view
        self.raw_value = 0.0  # the evaluator's value at expansion, player 0's view
        self.children: dict[int, Node] = {}
        self.prior = None
        self.legal = None
        self.expanded = False
        self.solved = False
        self.solved_value = 0.0
        self.to_play = state.current_player()


def sign(player: int) -> float:
    return 1.0 if player == 0 else -1.0


def evaluate(node: Node, evaluator) -> float:
    """Expand a node; returns its value from player 0's view."""
    s = node.state
    node.expanded = True
    node.legal = s.legal_mask()
    if s.is_terminal():
        node.solved = True
        node.solved_value = float(s.returns()[0])
        node.raw_value = node.solved_value
        node.prior = np.zeros(len(node.legal), np.float32)
        return node.solved_value
    p, v = evaluator.evaluate(s.observation()[None], node.legal[None], states=None)
    p = np.where(node.legal, p[0], 0).astype(np.float32)
    node.prior = (p / max(p.sum(), 1e-12)).astype(np.float32)
    node.raw_value = float(np.float32(v[0] if node.to_play == 0 else -v[0]))
    return node.raw_value


def q_of(node: Node, child: Node) -> float:
    """A visited child's mean value from the view of the player to move at `node`."""
    return sign(node.to_play) * (child.solved_value if child.solved else child.value_sum / child.visits)


def choose(node: Node, c_init: float, c_base: float, fpu_reduction: float) -> int:
    sgn = sign(node.to_play)
    n_parent = node.visits
    c = c_init + math.log((n_parent + c_base + 1.0) / c_base)
    sqrt_n = math.sqrt(n_parent)
    visited_prior = 0.0
    for a in range(len(node.prior)):
        ch = node.children.get(a)
        if ch is not None and ch.visits > 0:
            visited_prior += float(node.prior[a])
    fpu = sgn * node.value_sum / max(n_parent, 1) - fpu_reduction * math.sqrt(visited_prior)
    best, best_score = -1, -1e30
    for a in np.flatnonzero(node.legal):
        ch = node.children.get(int(a))
        if ch is not None and ch.visits > 0:
            n, q = ch.visits, q_of(node, ch)
        else:
            n, q = 0, fpu
        score = q + c * float(node.prior[a]) * sqrt_n / (1.0 + n)
        if score > best_score:
            best, best_score = int(a), score
    return best


# ---- Gumbel (Danihelka et al. 2022) -------------------------------------------------------
def considered_visits(m: int, n: int) -> list[int]:
    """Sequential halving as the visit count the root action chosen at simulation k must have:
    log2(m) phases, each giving the surviving actions an equal share of the budget one round at a
    time, then keeping half of them (at least two)."""
    if m <= 1:
        return list(range(n))
    phases = math.ceil(math.log2(m))
    out: list[int] = []
    count, alive = 0, m
    while len(out) < n:
        for _ in range(max(1, n // (phases * alive))):
            out += [count] * alive
            count += 1
        alive = max(2, alive // 2)
    return out[:n]


def completed_q(node: Node) -> tuple[np.ndarray, int]:
    """Each action's Q from the mover's view, unvisited ones given the mix of the node's raw
    value and its visited children's values weighted by prior; and the largest visit count."""
    legal = node.legal
    visited = {a: ch for a, ch in sorted(node.children.items()) if legal[a] and ch.visits > 0}  # action order
    total = sum(ch.visits for ch in visited.values())
    weight = sum(float(node.prior[a]) for a in visited)
    v_mix = sign(node.to_play) * node.raw_value
    if weight > 0:
        weighted = sum(float(node.prior[a]) * q_of(node, ch) for a, ch in visited.items())
        v_mix = (v_mix + total * weighted / weight) / (1.0 + total)
    q = np.full(len(legal), v_mix)
    for a, ch in visited.items():
        q[a] = q_of(node, ch)
    return q, max((ch.visits for ch in visited.values()), default=0)


def sigma(node: Node, c_visit: float, c_scale: float) -> np.ndarray:
    q, max_n = completed_q(node)
    lo, hi = q[node.legal].min(), q[node.legal].max()
    span = hi - lo if hi > lo else 1.0
    return np.where(node.legal, (c_visit + max_n) * c_scale * (q - lo) / span, NEG_INF)


def logits(node: Node) -> np.ndarray:
    return np.array([math.log(p) if p > 0 else -30.0 for p in node.prior.astype(np.float64)])


def improved_policy(node: Node, c_visit: float, c_scale: float) -> np.ndarray:
    x = np.where(node.legal, logits(node) + sigma(node, c_visit, c_scale), -np.inf)
    e = np.where(node.legal, np.exp(x - x[node.legal].max()), 0.0)
    total = 0.0
    for v in e:  # summed in action order, as one would by hand
        total += v
    return e / total


def gumbel_inner(node: Node, c_visit: float, c_scale: float) -> int:
    pi = improved_policy(node, c_visit, c_scale)
    total = sum(ch.visits for ch in node.children.values())
    scores = [pi[a] - (node.children[a].visits if a in node.children else 0) / (1.0 + total) if node.legal[a]
              else -np.inf for a in range(len(pi))]
    return int(np.argmax(scores))


def gumbel_root(node: Node, g: np.ndarray, visit: int, c_visit: float, c_scale: float) -> np.ndarray:
    """g + logits + sigma(q) of the root actions with exactly `visit` visits; -inf elsewhere."""
    score = g + logits(node) + sigma(node, c_visit, c_scale)
    counts = np.array([node.children[a].visits if a in node.children else 0 for a in range(len(g))])
    return np.where(node.legal & (counts == visit), score, NEG_INF)


# ---- the search -------------------------------------------------------------------------------
def try_solve(node: Node) -> bool:
    sgn = sign(node.to_play)
    values = []
    for a in np.flatnonzero(node.legal):
        ch = node.children.get(int(a))
        if ch is None or not ch.solved:
            values.append(None)
            continue
        v = sgn * ch.solved_value
        if v >= 1.0:
            node.solved, node.solved_value = True, ch.solved_value
            return True
        values.append(v)
    if values and None not in values:
        node.solved, node.solved_value = True, sgn * max(values)
        return True
    return False


def run(root_state, evaluator, num_simulations: int, c_init=1.25, c_base=19652.0, fpu_reduction=0.25,
        leaves_per_wave: int = 1, algorithm: str = "puct", rng=None, dirichlet_fraction: float = 0.0,
        dirichlet_alpha: float | None = None, gumbel_scale: float = 1.0, max_considered: int = 16,
        c_visit: float = 50.0, c_scale: float = 1.0) -> Node:
    """Search one root. `rng` draws the root noise as the search does for its first tree:
    Dirichlet over the legal moves (PUCT, when `dirichlet_fraction` > 0) or one Gumbel sample
    per action (Gumbel)."""
    root = Node(root_state.clone())
    root.value_sum = evaluate(root, evaluator)
    root.visits = 1
    legal = np.flatnonzero(root.legal)
    g = np.zeros(len(root.legal))
    if algorithm == "puct" and dirichlet_fraction > 0:
        noise = rng.dirichlet(np.full(len(legal), dirichlet_alpha or 10.0 / len(legal)))
        root.prior[legal] = (1 - dirichlet_fraction) * root.prior[legal] + dirichlet_fraction * noise
    if algorithm == "gumbel":
        drawn = rng.gumbel(size=(1, len(root.legal))).astype(np.float32)[0] * gumbel_scale
        g = np.where(root.legal, drawn, 0).astype(np.float32).astype(np.float64)
    root.gumbel = g
    schedule = considered_visits(min(len(legal), max_considered), num_simulations)
    done = 0
    while done < num_simulations:
        # one wave: walk down up to `leaves_per_wave` times, each walk leaving a virtual loss
        leaves: list[Node] = []
        for _ in range(leaves_per_wave):
            if root.solved and not leaves:
                done = num_simulations
            if done + len(leaves) >= num_simulations:
                break
            node = root
            node.visits += 1
            collided = False
            while not node.solved:
                if not node.expanded:
                    collided = True  # created by an earlier walk of this wave
                    break
                if algorithm == "gumbel" and node is root:
                    scores = gumbel_root(root, g, schedule[min(done + len(leaves), num_simulations - 1)],
                                         c_visit, c_scale)
                    a = int(np.argmax(scores))
                    if scores[a] <= NEG_INF:
                        a = gumbel_inner(node, c_visit, c_scale)
                elif algorithm == "gumbel":
                    a = gumbel_inner(node, c_visit, c_scale)
                else:
                    a = choose(node, c_init, c_base, fpu_reduction)
                child = node.children.get(a)
                fresh = child is None
                if fresh:
                    child = node.children[a] = Node(node.state.child(a), node)
                child.visits += 1
                child.value_sum -= sign(node.to_play)  # virtual loss
                node = child
                if fresh:
                    break
            if collided:
                while node is not None:
                    node.visits -= 1
                    if node.parent is not None:
                        node.value_sum += sign(node.parent.to_play)
                    node = node.parent
                continue
            leaves.append(node)
        # back up the wave's leaves in the order they were found
        for node in leaves:
            value = node.solved_value if node.solved else evaluate(node, evaluator)
            just_solved = node.solved
            while node is not None:
                if node.parent is not None:
                    node.value_sum += sign(node.parent.to_play)
                node.value_sum += value
                if just_solved and node.parent is not None and not node.parent.solved:
                    just_solved = try_solve(node.parent)
                else:
                    just_solved = False
                node = node.parent
            done += 1
    return root


def root_visits(root: Node, num_actions: int) -> np.ndarray:
    out = np.zeros(num_actions, np.int64)
    for a, ch in root.children.items():
        out[a] = ch.visits
    return out
