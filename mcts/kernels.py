"""numba kernels over the tree arrays (see mcts/tree.py). They know nothing of any game.

One simulation wave: `select` walks every tree and picks up to K leaves per tree (virtual
loss keeps them apart), the driver expands and evaluates the new leaves, then `backup`
writes priors and values back up every path.

Every kernel takes the tree as one `Tree` (mcts/tree.py) and the scalar settings as one
`KernelParams` (mcts/config.py), both NamedTuples, so nothing can be passed in the wrong slot.

Leaf kinds written by `select`:
  EXPAND    a new node, created under (parent, action), to be expanded and evaluated
  KNOWN     a node whose value is exact (terminal, or proven by the solver): backed up as is
  COLLISION the walk reached a node created earlier in the same wave; nothing to back up
  IDLE      the tree has no simulations left
"""

from __future__ import annotations

import math

import numba
import numpy as np

EXPAND, KNOWN, COLLISION, IDLE = 0, 1, 2, 3
PUCT, GUMBEL = 0, 1  # KernelParams.algorithm
NEG_INF = -1e30


@numba.njit(cache=True, nogil=True)
def _sign(player):
    return 1.0 if player == 0 else -1.0


@numba.njit(cache=True, nogil=True)
def _child_q(t, b, child, sgn):
    """Mean value of a visited child from the view of the player to move at its parent."""
    if t.solved[b, child]:
        return sgn * t.solved_value[b, child]
    return sgn * t.value_sum[b, child] / t.visits[b, child]


@numba.njit(cache=True, nogil=True)
def _puct_choice(t, b, node, p):
    """AlphaZero's PUCT: Q + c(N) * P * sqrt(N) / (1 + n), with c(N) growing as log(N) and
    unvisited children valued at the parent's value minus a first-play-urgency reduction, or at
    `p.fpu_value` when that is not NaN (1.0: try every move once first, as UCT does)."""
    sgn = _sign(t.to_play[b, node])
    n_parent = t.visits[b, node]
    c = p.c_init + math.log((n_parent + p.c_base + 1.0) / p.c_base)
    sqrt_n = math.sqrt(n_parent)
    visited_prior = 0.0
    for a in range(t.prior.shape[2]):
        ch = t.children[b, node, a]
        if ch >= 0 and t.visits[b, ch] > 0:
            visited_prior += t.prior[b, node, a]
    fpu = sgn * t.value_sum[b, node] / max(n_parent, 1) - p.fpu_reduction * math.sqrt(visited_prior)
    if not math.isnan(p.fpu_value):
        fpu = p.fpu_value
    best = -1
    best_score = NEG_INF
    for a in range(t.prior.shape[2]):
        if not t.legal[b, node, a]:
            continue
        ch = t.children[b, node, a]
        if ch >= 0 and t.visits[b, ch] > 0:
            n = t.visits[b, ch]
            q = _child_q(t, b, ch, sgn)
        else:
            n = 0
            q = fpu
        score = q + c * t.prior[b, node, a] * sqrt_n / (1.0 + n)
        if score > best_score:
            best_score = score
            best = a
    return best


@numba.njit(cache=True, nogil=True)
def _completed_q(t, b, node, out_q):
    """Gumbel search's completed Q (mover's view): the mean value of visited children, and for
    unvisited ones the mixed value of the node's raw value and its visited children. Returns
    the largest child visit count."""
    sgn = _sign(t.to_play[b, node])
    total = 0
    max_n = 0
    weighted = 0.0
    weight = 0.0
    for a in range(t.prior.shape[2]):
        ch = t.children[b, node, a]
        if t.legal[b, node, a] and ch >= 0 and t.visits[b, ch] > 0:
            n = t.visits[b, ch]
            total += n
            max_n = max(max_n, n)
            q = _child_q(t, b, ch, sgn)
            out_q[a] = q
            weighted += t.prior[b, node, a] * q
            weight += t.prior[b, node, a]
        else:
            out_q[a] = np.nan
    v_mix = sgn * t.raw_value[b, node]
    if weight > 0:
        v_mix = (v_mix + total * weighted / weight) / (1.0 + total)
    for a in range(t.prior.shape[2]):
        if np.isnan(out_q[a]):
            out_q[a] = v_mix
    return max_n


@numba.njit(cache=True, nogil=True)
def _sigma(q, legal_row, max_n, c_visit, c_scale, out):
    """sigma(q) = (c_visit + max N) * c_scale * q, with q rescaled to [0, 1] over legal actions."""
    lo = 1e30
    hi = -1e30
    for a in range(q.shape[0]):
        if legal_row[a]:
            lo = min(lo, q[a])
            hi = max(hi, q[a])
    span = hi - lo if hi > lo else 1.0
    for a in range(q.shape[0]):
        out[a] = (c_visit + max_n) * c_scale * (q[a] - lo) / span if legal_row[a] else NEG_INF


@numba.njit(cache=True, nogil=True)
def _log(p):
    return math.log(p) if p > 0 else -30.0


@numba.njit(cache=True, nogil=True)
def gumbel_root_scores(t, b, considered_visit, c_visit, c_scale, out):
    """g + logits + sigma(completed Q) for root actions whose visit count equals
    `considered_visit` (sequential halving's schedule); -inf for the others."""
    A = t.prior.shape[2]
    q = np.empty(A)
    sig = np.empty(A)
    max_n = _completed_q(t, b, 0, q)
    _sigma(q, t.legal[b, 0], max_n, c_visit, c_scale, sig)
    for a in range(A):
        ch = t.children[b, 0, a]
        n = t.visits[b, ch] if ch >= 0 else 0
        if t.legal[b, 0, a] and n == considered_visit:
            out[a] = t.gumbel[b, a] + _log(t.prior[b, 0, a]) + sig[a]
        else:
            out[a] = NEG_INF


@numba.njit(cache=True, nogil=True)
def gumbel_improved_policy(t, b, node, c_visit, c_scale, out):
    """softmax(logits + sigma(completed Q)) over legal actions: Gumbel search's policy target."""
    A = t.prior.shape[2]
    q = np.empty(A)
    sig = np.empty(A)
    max_n = _completed_q(t, b, node, q)
    _sigma(q, t.legal[b, node], max_n, c_visit, c_scale, sig)
    hi = NEG_INF
    for a in range(A):
        if t.legal[b, node, a]:
            out[a] = _log(t.prior[b, node, a]) + sig[a]
            hi = max(hi, out[a])
    total = 0.0
    for a in range(A):
        if t.legal[b, node, a]:
            out[a] = math.exp(out[a] - hi)
            total += out[a]
        else:
            out[a] = 0.0
    for a in range(A):
        out[a] /= total


@numba.njit(cache=True, nogil=True)
def _gumbel_inner_choice(t, b, node, p, pi):
    """Deterministic non-root selection: argmax of pi'(a) - N(a) / (1 + sum N)."""
    gumbel_improved_policy(t, b, node, p.c_visit, p.c_scale, pi)
    total = 0
    for a in range(t.prior.shape[2]):
        ch = t.children[b, node, a]
        if ch >= 0:
            total += t.visits[b, ch]
    best = -1
    best_score = NEG_INF
    for a in range(t.prior.shape[2]):
        if not t.legal[b, node, a]:
            continue
        ch = t.children[b, node, a]
        n = t.visits[b, ch] if ch >= 0 else 0
        score = pi[a] - n / (1.0 + total)
        if score > best_score:
            best_score = score
            best = a
    return best


@numba.njit(cache=True, nogil=True)
def _add_virtual_loss(t, b, node):
    t.visits[b, node] += 1
    parent = t.parent[b, node]
    if parent >= 0:
        t.value_sum[b, node] -= _sign(t.to_play[b, parent])  # a loss for the player who chose it


@numba.njit(cache=True, nogil=True)
def _remove_virtual_loss(t, b, node):
    """Undo the virtual loss on the path from `node` up to the root (visits too)."""
    while node >= 0:
        t.visits[b, node] -= 1
        parent = t.parent[b, node]
        if parent >= 0:
            t.value_sum[b, node] += _sign(t.to_play[b, parent])
        node = parent


@numba.njit(cache=True, nogil=True)
def select(t, p, halving_table, wave):
    """Pick up to `p.leaves` leaves in every tree into `wave` (see the module docstring for the
    kinds). `halving_table` is Gumbel's sequential-halving schedule (mcts/search.py)."""
    B = t.visits.shape[0]
    A = t.prior.shape[2]
    scores = np.empty(A)
    pi = np.empty(A)
    for b in range(B):
        in_flight = 0
        for k in range(p.leaves):
            wave.node[b, k] = -1
            if t.solved[b, 0] and in_flight == 0:
                t.sims_done[b] = p.num_simulations  # a proven root needs no more search
            if t.sims_done[b] + in_flight >= p.num_simulations:
                wave.kind[b, k] = IDLE
                continue
            node = 0
            t.visits[b, 0] += 1
            kind = EXPAND
            while True:
                if t.solved[b, node]:
                    kind = KNOWN
                    break
                if not t.expanded[b, node]:
                    kind = COLLISION
                    break
                if p.algorithm == GUMBEL and node == 0:
                    m = t.considered[b]
                    sim = min(t.sims_done[b] + in_flight, halving_table.shape[1] - 1)
                    gumbel_root_scores(t, b, halving_table[m, sim], p.c_visit, p.c_scale, scores)
                    a = np.argmax(scores)
                    if scores[a] <= NEG_INF:  # schedule exhausted (solved children): fall back
                        a = _gumbel_inner_choice(t, b, node, p, pi)
                elif p.algorithm == GUMBEL:
                    a = _gumbel_inner_choice(t, b, node, p, pi)
                else:
                    a = _puct_choice(t, b, node, p)
                child = t.children[b, node, a]
                if child < 0:
                    child = t.num_nodes[b]
                    t.num_nodes[b] += 1
                    t.children[b, node, a] = child
                    t.parent[b, child] = node
                    t.action[b, child] = a
                    t.expanded[b, child] = False
                    _add_virtual_loss(t, b, child)
                    node = child
                    kind = EXPAND
                    break
                _add_virtual_loss(t, b, child)
                node = child
            if kind == COLLISION:
                _remove_virtual_loss(t, b, node)
                wave.kind[b, k] = COLLISION
                continue
            wave.kind[b, k] = kind
            wave.node[b, k] = node
            in_flight += 1


@numba.njit(cache=True, nogil=True)
def _try_solve(t, b, node):
    """MCTS-solver step: a node is proven when one child is a proven win for its mover, or all
    of its legal children are proven (then its value is the best of theirs)."""
    sgn = _sign(t.to_play[b, node])
    best = -2.0
    for a in range(t.legal.shape[2]):
        if not t.legal[b, node, a]:
            continue
        ch = t.children[b, node, a]
        if ch < 0 or not t.solved[b, ch]:
            best = 2.0  # an unproven child: no verdict unless a proven win turns up
            continue
        v = sgn * t.solved_value[b, ch]
        if v >= 1.0:
            t.solved[b, node] = True
            t.solved_value[b, node] = t.solved_value[b, ch]
            return True
        if best < 2.0 and v > best:
            best = v
    if -2.0 < best < 2.0:
        t.solved[b, node] = True
        t.solved_value[b, node] = sgn * best
        return True
    return False


@numba.njit(cache=True, nogil=True)
def backup(t, wave, leaves):
    """Expand the wave's EXPAND leaves with what the driver found (`leaves`, an `Expansion`),
    then add every leaf's value (player 0's view) to its path, removing the virtual loss."""
    B, K = wave.kind.shape
    for b in range(B):
        for k in range(K):
            kind = wave.kind[b, k]
            if kind != EXPAND and kind != KNOWN:
                continue
            node = wave.node[b, k]
            if kind == EXPAND:
                i = leaves.index[b, k]
                t.to_play[b, node] = leaves.to_play[i]
                t.expanded[b, node] = True
                t.raw_value[b, node] = leaves.value[i]
                t.legal[b, node] = leaves.legal[i]
                t.prior[b, node] = leaves.priors[i]
                if leaves.terminal[i]:
                    t.solved[b, node] = True
                    t.solved_value[b, node] = leaves.value[i]
                v = leaves.value[i]
            else:
                v = t.solved_value[b, node]
            just_solved = t.solved[b, node]
            while node >= 0:
                parent = t.parent[b, node]
                if parent >= 0:
                    t.value_sum[b, node] += _sign(t.to_play[b, parent])  # remove the virtual loss
                t.value_sum[b, node] += v
                if just_solved and parent >= 0 and not t.solved[b, parent]:
                    just_solved = _try_solve(t, b, parent)
                else:
                    just_solved = False
                node = parent
            t.sims_done[b] += 1


@numba.njit(cache=True, nogil=True)
def subtree_order(children, b, root, num_nodes):
    """Breadth-first order of the subtree under `root` in tree b, and the old -> new index map
    (-1 for nodes outside it)."""
    order = np.empty(num_nodes, dtype=np.int64)
    remap = np.full(num_nodes, -1, dtype=np.int64)
    order[0] = root
    remap[root] = 0
    head = 0
    tail = 1
    while head < tail:
        node = order[head]
        head += 1
        for a in range(children.shape[2]):
            ch = children[b, node, a]
            if ch >= 0:
                remap[ch] = tail
                order[tail] = ch
                tail += 1
    return order[:tail], remap
