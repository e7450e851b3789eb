"""numba kernels over the tree arrays (see mcts/tree.py). They know nothing of any game.

float32 entries (priors, raw values, Gumbel noise) are read through float(): numba promotes
them to float64 anyway, and plain NumPy (NUMBA_DISABLE_JIT) would otherwise keep the arithmetic
in float32 and break near-ties the other way.

One simulation wave: `select` walks every tree and picks up to K leaves per tree (virtual
loss keeps them apart), the driver expands and evaluates the new leaves, then `backup`
writes priors and values back up every path.

The public kernels (`select`, `backup`, `gumbel_root_scores`, `gumbel_improved_policy`) take
the tree as one `Tree` (mcts/tree.py) and the scalar settings as one `KernelParams`
(mcts/config.py), both NamedTuples, so no caller can pass an array in the wrong slot. Each
unpacks the tree once; the private helpers take the few arrays they read. (Reading a tuple's
array field inside a loop costs numba a reference-count pair each time: with the helpers taking
the whole tree, `select` ran at two thirds of its speed.)

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
def _child_q(b, node, child, visits, value_sum, solved, solved_value, sgn):
    """Mean value of a visited child from the view of the player to move at `node`."""
    if solved[b, child]:
        return sgn * float(solved_value[b, child])
    return sgn * value_sum[b, child] / visits[b, child]


@numba.njit(cache=True, nogil=True)
def _puct_choice(b, node, visits, value_sum, prior, legal, children, to_play, solved, solved_value,
                 c_init, c_base, fpu_reduction, fpu_value):
    """AlphaZero's PUCT: Q + c(N) * P * sqrt(N) / (1 + n), with c(N) growing as log(N) and
    unvisited children valued at the parent's value minus a first-play-urgency reduction, or at
    `fpu_value` when that is not NaN (1.0: try every move once first, as UCT does)."""
    sgn = _sign(to_play[b, node])
    n_parent = visits[b, node]
    c = c_init + math.log((n_parent + c_base + 1.0) / c_base)
    sqrt_n = math.sqrt(n_parent)
    visited_prior = 0.0
    for a in range(prior.shape[2]):
        ch = children[b, node, a]
        if ch >= 0 and visits[b, ch] > 0:
            visited_prior += float(prior[b, node, a])
    fpu = sgn * value_sum[b, node] / max(n_parent, 1) - fpu_reduction * math.sqrt(visited_prior)
    if not math.isnan(fpu_value):
        fpu = fpu_value
    best = -1
    best_score = NEG_INF
    for a in range(prior.shape[2]):
        if not legal[b, node, a]:
            continue
        ch = children[b, node, a]
        if ch >= 0 and visits[b, ch] > 0:
            n = visits[b, ch]
            q = _child_q(b, node, ch, visits, value_sum, solved, solved_value, sgn)
        else:
            n = 0
            q = fpu
        score = q + c * float(prior[b, node, a]) * sqrt_n / (1.0 + n)
        if score > best_score:
            best_score = score
            best = a
    return best


@numba.njit(cache=True, nogil=True)
def _completed_q(b, node, visits, value_sum, raw_value, prior, legal, children, to_play, solved, solved_value,
                 out_q):
    """Gumbel search's completed Q (mover's view): the mean value of visited children, and for
    unvisited ones the mixed value of the node's raw value and its visited children. Returns
    the largest child visit count."""
    sgn = _sign(to_play[b, node])
    total = 0
    max_n = 0
    weighted = 0.0
    weight = 0.0
    for a in range(prior.shape[2]):
        ch = children[b, node, a]
        if legal[b, node, a] and ch >= 0 and visits[b, ch] > 0:
            n = visits[b, ch]
            total += n
            max_n = max(max_n, n)
            q = _child_q(b, node, ch, visits, value_sum, solved, solved_value, sgn)
            out_q[a] = q
            weighted += float(prior[b, node, a]) * q
            weight += float(prior[b, node, a])
        else:
            out_q[a] = np.nan
    v_mix = sgn * float(raw_value[b, node])
    if weight > 0:
        v_mix = (v_mix + total * weighted / weight) / (1.0 + total)
    for a in range(prior.shape[2]):
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
    return math.log(float(p)) if p > 0 else -30.0


@numba.njit(cache=True, nogil=True)
def _gumbel_root_scores(b, visits, value_sum, raw_value, prior, legal, children, to_play, solved, solved_value,
                       gumbel, considered_visit, c_visit, c_scale, out):
    """g + logits + sigma(completed Q) for root actions whose visit count equals
    `considered_visit` (sequential halving's schedule); -inf for the others."""
    A = prior.shape[2]
    q = np.empty(A)
    sig = np.empty(A)
    max_n = _completed_q(b, 0, visits, value_sum, raw_value, prior, legal, children, to_play, solved,
                         solved_value, q)
    _sigma(q, legal[b, 0], max_n, c_visit, c_scale, sig)
    for a in range(A):
        ch = children[b, 0, a]
        n = visits[b, ch] if ch >= 0 else 0
        if legal[b, 0, a] and n == considered_visit:
            out[a] = float(gumbel[b, a]) + _log(prior[b, 0, a]) + sig[a]
        else:
            out[a] = NEG_INF


@numba.njit(cache=True, nogil=True)
def _improved_policy(b, node, visits, value_sum, raw_value, prior, legal, children, to_play, solved,
                           solved_value, c_visit, c_scale, out):
    """softmax(logits + sigma(completed Q)) over legal actions: Gumbel search's policy target."""
    A = prior.shape[2]
    q = np.empty(A)
    sig = np.empty(A)
    max_n = _completed_q(b, node, visits, value_sum, raw_value, prior, legal, children, to_play, solved,
                         solved_value, q)
    _sigma(q, legal[b, node], max_n, c_visit, c_scale, sig)
    hi = NEG_INF
    for a in range(A):
        if legal[b, node, a]:
            out[a] = _log(prior[b, node, a]) + sig[a]
            hi = max(hi, out[a])
    total = 0.0
    for a in range(A):
        if legal[b, node, a]:
            out[a] = math.exp(out[a] - hi)
            total += out[a]
        else:
            out[a] = 0.0
    for a in range(A):
        out[a] /= total


@numba.njit(cache=True, nogil=True)
def _gumbel_inner_choice(b, node, visits, value_sum, raw_value, prior, legal, children, to_play, solved,
                         solved_value, c_visit, c_scale, pi):
    """Deterministic non-root selection: argmax of pi'(a) - N(a) / (1 + sum N)."""
    _improved_policy(b, node, visits, value_sum, raw_value, prior, legal, children, to_play, solved,
                           solved_value, c_visit, c_scale, pi)
    total = 0
    for a in range(prior.shape[2]):
        ch = children[b, node, a]
        if ch >= 0:
            total += visits[b, ch]
    best = -1
    best_score = NEG_INF
    for a in range(prior.shape[2]):
        if not legal[b, node, a]:
            continue
        ch = children[b, node, a]
        n = visits[b, ch] if ch >= 0 else 0
        score = pi[a] - n / (1.0 + total)
        if score > best_score:
            best_score = score
            best = a
    return best


@numba.njit(cache=True, nogil=True)
def _add_virtual_loss(b, node, parent, visits, value_sum, to_play):
    visits[b, node] += 1
    p = parent[b, node]
    if p >= 0:
        value_sum[b, node] -= _sign(to_play[b, p])  # a loss for the player who chose it


@numba.njit(cache=True, nogil=True)
def _remove_virtual_loss(b, node, parent, visits, value_sum, to_play):
    """Undo the virtual loss on the path from `node` up to the root (visits too)."""
    while node >= 0:
        visits[b, node] -= 1
        p = parent[b, node]
        if p >= 0:
            value_sum[b, node] += _sign(to_play[b, p])
        node = p


@numba.njit(cache=True, nogil=True)
def gumbel_root_scores(t, b, considered_visit, c_visit, c_scale, out):
    """g + logits + sigma(completed Q) for tree b's root actions whose visit count equals
    `considered_visit` (sequential halving's schedule); -inf for the others."""
    _gumbel_root_scores(b, t.visits, t.value_sum, t.raw_value, t.prior, t.legal, t.children, t.to_play, t.solved,
                        t.solved_value, t.gumbel, considered_visit, c_visit, c_scale, out)


@numba.njit(cache=True, nogil=True)
def gumbel_improved_policy(t, b, node, c_visit, c_scale, out):
    """softmax(logits + sigma(completed Q)) over legal actions: Gumbel search's policy target."""
    _improved_policy(b, node, t.visits, t.value_sum, t.raw_value, t.prior, t.legal, t.children, t.to_play, t.solved,
                     t.solved_value, c_visit, c_scale, out)


@numba.njit(cache=True, nogil=True)
def select(t, p, schedule, wave):
    """Pick up to `p.leaves` leaves in every tree into `wave` (see the module docstring for the
    kinds). `schedule` (B, S) is each tree's Gumbel sequential-halving plan: the visit count the
    root action chosen at simulation k must have (mcts/search.py's `halving_table` row for the
    tree's number of considered actions)."""
    visits, value_sum, raw_value, prior, legal = t.visits, t.value_sum, t.raw_value, t.prior, t.legal
    children, parent, action, to_play, expanded = t.children, t.parent, t.action, t.to_play, t.expanded
    solved, solved_value, num_nodes, gumbel = t.solved, t.solved_value, t.num_nodes, t.gumbel
    sims_done, out_kind, out_node = t.sims_done, wave.kind, wave.node
    B = visits.shape[0]
    A = prior.shape[2]
    scores = np.empty(A)
    pi = np.empty(A)
    for b in range(B):
        in_flight = 0
        for k in range(p.leaves):
            out_node[b, k] = -1
            if solved[b, 0] and in_flight == 0:
                sims_done[b] = p.num_simulations  # a proven root needs no more search
            if sims_done[b] + in_flight >= p.num_simulations:
                out_kind[b, k] = IDLE
                continue
            node = 0
            visits[b, 0] += 1
            kind = EXPAND
            while True:
                if solved[b, node]:
                    kind = KNOWN
                    break
                if not expanded[b, node]:
                    kind = COLLISION
                    break
                if p.algorithm == GUMBEL and node == 0:
                    sim = min(sims_done[b] + in_flight, schedule.shape[1] - 1)
                    _gumbel_root_scores(b, visits, value_sum, raw_value, prior, legal, children, to_play, solved,
                                        solved_value, gumbel, schedule[b, sim], p.c_visit, p.c_scale, scores)
                    a = np.argmax(scores)
                    if scores[a] <= NEG_INF:  # schedule exhausted (solved children): fall back
                        a = _gumbel_inner_choice(b, node, visits, value_sum, raw_value, prior, legal, children,
                                                 to_play, solved, solved_value, p.c_visit, p.c_scale, pi)
                elif p.algorithm == GUMBEL:
                    a = _gumbel_inner_choice(b, node, visits, value_sum, raw_value, prior, legal, children,
                                             to_play, solved, solved_value, p.c_visit, p.c_scale, pi)
                else:
                    a = _puct_choice(b, node, visits, value_sum, prior, legal, children, to_play, solved,
                                     solved_value, p.c_init, p.c_base, p.fpu_reduction, p.fpu_value)
                child = children[b, node, a]
                if child < 0:
                    child = num_nodes[b]
                    num_nodes[b] += 1
                    children[b, node, a] = child
                    parent[b, child] = node
                    action[b, child] = a
                    expanded[b, child] = False
                    _add_virtual_loss(b, child, parent, visits, value_sum, to_play)
                    node = child
                    kind = EXPAND
                    break
                _add_virtual_loss(b, child, parent, visits, value_sum, to_play)
                node = child
            if kind == COLLISION:
                _remove_virtual_loss(b, node, parent, visits, value_sum, to_play)
                out_kind[b, k] = COLLISION
                continue
            out_kind[b, k] = kind
            out_node[b, k] = node
            in_flight += 1


@numba.njit(cache=True, nogil=True)
def _try_solve(b, node, legal, children, to_play, solved, solved_value):
    """MCTS-solver step: a node is proven when one child is a proven win for its mover, or all
    of its legal children are proven (then its value is the best of theirs)."""
    sgn = _sign(to_play[b, node])
    best = -2.0
    for a in range(legal.shape[2]):
        if not legal[b, node, a]:
            continue
        ch = children[b, node, a]
        if ch < 0 or not solved[b, ch]:
            best = 2.0  # an unproven child: no verdict unless a proven win turns up
            continue
        v = sgn * solved_value[b, ch]
        if v >= 1.0:
            solved[b, node] = True
            solved_value[b, node] = solved_value[b, ch]
            return True
        if best < 2.0 and v > best:
            best = v
    if -2.0 < best < 2.0:
        solved[b, node] = True
        solved_value[b, node] = sgn * best
        return True
    return False


@numba.njit(cache=True, nogil=True)
def backup(t, wave, leaves):
    """Expand the wave's EXPAND leaves with what the driver found (`leaves`, an `Expansion`),
    then add every leaf's value (player 0's view) to its path, removing the virtual loss."""
    value_sum, raw_value, prior, legal = t.value_sum, t.raw_value, t.prior, t.legal
    children, parent, to_play, expanded = t.children, t.parent, t.to_play, t.expanded
    solved, solved_value, sims_done = t.solved, t.solved_value, t.sims_done
    out_kind, out_node = wave.kind, wave.node
    index, leaf_priors, leaf_legal, leaf_to_play = leaves.index, leaves.priors, leaves.legal, leaves.to_play
    leaf_terminal, leaf_value = leaves.terminal, leaves.value
    B, K = out_kind.shape
    for b in range(B):
        for k in range(K):
            kind = out_kind[b, k]
            if kind != EXPAND and kind != KNOWN:
                continue
            node = out_node[b, k]
            if kind == EXPAND:
                i = index[b, k]
                to_play[b, node] = leaf_to_play[i]
                expanded[b, node] = True
                raw_value[b, node] = leaf_value[i]
                legal[b, node] = leaf_legal[i]
                prior[b, node] = leaf_priors[i]
                if leaf_terminal[i]:
                    solved[b, node] = True
                    solved_value[b, node] = leaf_value[i]
                v = leaf_value[i]
            else:
                v = solved_value[b, node]
            just_solved = solved[b, node]
            while node >= 0:
                up = parent[b, node]
                if up >= 0:
                    value_sum[b, node] += _sign(to_play[b, up])  # remove the virtual loss
                value_sum[b, node] += v
                if just_solved and up >= 0 and not solved[b, up]:
                    just_solved = _try_solve(b, up, legal, children, to_play, solved, solved_value)
                else:
                    just_solved = False
                node = up
            sims_done[b] += 1


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
