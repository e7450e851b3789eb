"""Go's rules as numba kernels (the Game class is in games/go.py): Go on an n x n board
(n <= 19), area scoring with komi.

Actions as OpenSpiel's go: point r * n + c with row 0 = rank 1 (a1 = 0), n * n = pass.

Two rule sets:
- "chinese" (default): suicide is illegal, positional superko forbids any move that recreates
  an earlier whole-board position, two passes end the game, which is scored by area. A hard
  cap of 3 * n^2 moves (never reached in real play) keeps the state array bounded; a game
  that reaches it is scored as it stands.
- "openspiel": exactly OpenSpiel's go: simple ko only, a move that repeats an earlier position
  ends the game as a draw, and the game is cut (and scored) at 2 * n^2 moves.

State array: header (to_play, terminal, outcome, ply, last, ko point, passes in a row,
position hash, index of the last position reached by a capture), n * n points (0 empty,
1 black = player 0, 2 white), then the hash of every position so far (index = ply).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

_TO_PLAY, _TERMINAL, _OUTCOME, _PLY, _LAST, _KO, _PASSES, _HASH, _LASTCAP, _HEADER = range(10)
CHINESE, OPENSPIEL = 0, 1
RULES = {"chinese": CHINESE, "openspiel": OPENSPIEL}
MAX_SIZE = 19
# Zobrist keys of (colour, point); a position's hash is the xor over its stones.
_ZOBRIST = np.random.default_rng(37).integers(1, 2**62, size=(2, MAX_SIZE * MAX_SIZE), dtype=np.int64)
@numba.njit(cache=True, nogil=True)
def _scratch(n):
    """Work arrays for the kernels: the neighbour table (n*n, 8): four orthogonal then four
    diagonal neighbours, -1 off the board; a stamp array (see _flood); two point lists."""
    n2 = n * n
    nbr = np.full((n2, 8), -1, dtype=np.int64)
    for p in range(n2):
        r = p // n
        c = p % n
        k = 0
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)):
            if 0 <= r + dr < n and 0 <= c + dc < n:
                nbr[p, k] = (r + dr) * n + c + dc
            k += 1
    return nbr, np.zeros(n2 + 1, dtype=np.int64), np.empty(n2, dtype=np.int64), np.empty(n2, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _flood(board, p, nbr, mark, stack, members, lib_limit):
    """The region of connected points that hold p's value: a group of stones, or an empty area.

    Its points go to `members`. Returns (size, liberties, reached): liberties counts the
    distinct empty points next to a group and stops at `lib_limit` (the member list is then
    incomplete); reached is the bitmask of colours next to the region (1 Black, 2 White), what
    area scoring asks of an empty area. Go's one flood fill: legality, captures, every group's
    liberties and area scoring all call it.

    `mark` has n*n + 1 slots; the last holds the current stamp, so nothing is cleared between
    calls.
    """
    mark[-1] += 1
    stamp = mark[-1]
    value = board[p]
    mark[p] = stamp
    stack[0] = p
    top = 1
    size = 0
    libs = 0
    reached = 0
    while top > 0:
        top -= 1
        q = stack[top]
        members[size] = q
        size += 1
        for d in range(4):
            t = nbr[q, d]
            if t < 0 or mark[t] == stamp:
                continue
            v = board[t]
            if v == value:
                mark[t] = stamp
                stack[top] = t
                top += 1
            elif v == 0:
                mark[t] = stamp
                libs += 1
                if libs >= lib_limit:
                    return size, libs, reached
            else:
                reached |= v
    return size, libs, reached

@numba.njit(cache=True, nogil=True)
def _try_move(board, p, color, nbr, mark, stack, stones):
    """Whether a stone of `color` at empty p is not suicide, and what it would capture.

    Returns (legal, stones captured, xor of the captured stones' Zobrist keys).
    """
    opp = 3 - color
    first_stamp = mark[-1] + 1
    legal = False
    ncap = 0
    caph = np.int64(0)
    for d in range(4):
        t = nbr[p, d]
        if t < 0:
            continue
        v = board[t]
        if v == 0:
            legal = True
        elif v == color:
            if not legal:
                _, nl, _ = _flood(board, t, nbr, mark, stack, stones, 2)
                if nl >= 2:  # p is one liberty; the group keeps another
                    legal = True
        elif mark[t] < first_stamp:  # an opponent group not yet examined in this call
            ns, nl, _ = _flood(board, t, nbr, mark, stack, stones, 2)
            if nl == 1:  # its only liberty is p: captured
                ncap += ns
                for j in range(ns):
                    caph ^= _ZOBRIST[opp - 1, stones[j]]
    if ncap > 0:
        legal = True
    return legal, ncap, caph


@numba.njit(cache=True, nogil=True)
def _seen_before(s, h, captures, n2):
    """Whether hash h occurred among the earlier positions.

    A repeat needs a capture since the earlier position (otherwise the stone count only
    grew), so a non-capturing move only has to be checked against positions before the
    last capture.
    """
    base = _HEADER + n2
    end = s[_PLY] + 1 if captures else s[_LASTCAP]
    for k in range(end):
        if s[base + k] == h:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _owners(board, nbr, mark, stack, owner):
    """Area scoring, point by point: owner[p] = 1 or 2 when point p counts for Black or White
    (its stone, or an empty region reaching only that colour), else 0. Returns (black area,
    white area)."""
    n2 = board.shape[0]
    members = np.empty(n2, dtype=np.int64)
    for p in range(n2):
        owner[p] = board[p] if board[p] != 0 else -1  # -1: an empty point not yet flooded
    black_area = 0
    white_area = 0
    for p in range(n2):
        if board[p] == 1:
            black_area += 1
        elif board[p] == 2:
            white_area += 1
        elif owner[p] < 0:
            size, _, reached = _flood(board, p, nbr, mark, stack, members, n2 + 1)
            colour = reached if reached == 1 or reached == 2 else 0
            for i in range(size):
                owner[members[i]] = colour
            if colour == 1:
                black_area += size
            elif colour == 2:
                white_area += size
    return black_area, white_area

@numba.njit(cache=True, nogil=True)
def _areas(board, nbr, mark, stack):
    """(black area, white area): stones plus empty regions that reach only that colour."""
    return _owners(board, nbr, mark, stack, np.empty(board.shape[0], dtype=np.int64))


@numba.njit(cache=True, nogil=True)
def _area(board, nbr, mark, stack):
    """Black area minus white area."""
    b, w = _areas(board, nbr, mark, stack)
    return b - w


@numba.njit(cache=True, nogil=True)
def _play(s, a, n, komi, rules, max_moves, nbr, mark, stack, stones):
    n2 = n * n
    board = s[_HEADER : _HEADER + n2]
    ply = s[_PLY]
    color = s[_TO_PLAY] + 1
    h = s[_HASH]
    captured = 0
    if a == n2:
        s[_PASSES] += 1
        s[_KO] = -1
    else:
        opp = 3 - color
        enemy_eye = True
        for d in range(4):
            t = nbr[a, d]
            if t >= 0 and board[t] != opp:
                enemy_eye = False
        board[a] = color
        h ^= _ZOBRIST[color - 1, a]
        last_capture = -1
        for d in range(4):
            t = nbr[a, d]
            if t >= 0 and board[t] == opp:
                ns, nl, _ = _flood(board, t, nbr, mark, stack, stones, 1)
                if nl == 0:
                    for j in range(ns):
                        board[stones[j]] = 0
                        h ^= _ZOBRIST[opp - 1, stones[j]]
                    captured += ns
                    last_capture = t
        s[_KO] = last_capture if (enemy_eye and captured == 1) else -1
        s[_PASSES] = 0
    repeated = False
    if rules == OPENSPIEL and a != n2:
        repeated = _seen_before(s, h, captured > 0, n2)
    if captured > 0:
        s[_LASTCAP] = ply + 1
    s[_PLY] = ply + 1
    s[_LAST] = a
    s[_HASH] = h
    s[_TO_PLAY] = 1 - s[_TO_PLAY]
    s[_HEADER + n2 + ply + 1] = h
    if repeated:
        s[_TERMINAL] = 1
        s[_OUTCOME] = 0
    elif s[_PASSES] >= 2 or ply + 1 >= max_moves:
        score = _area(board, nbr, mark, stack) - komi
        s[_TERMINAL] = 1
        s[_OUTCOME] = 1 if score > 0 else (-1 if score < 0 else 0)


@numba.njit(cache=True, nogil=True)
def _apply(s, a, n, komi, rules, max_moves):
    nbr, mark, stack, stones = _scratch(n)
    _play(s, a, n, komi, rules, max_moves, nbr, mark, stack, stones)


@numba.njit(cache=True, nogil=True)
def _groups(board, nbr, mark, stack, stones, info):
    """Every group on the board, found once: info[0, p] = the group of the stone at p, and for
    group g, info[1, g] = its distinct liberties, info[2, g] = its stones, info[3, g] = the xor
    of their Zobrist keys."""
    n2 = board.shape[0]
    gid = info[0]
    gid[:] = -1
    g = 0
    for p in range(n2):
        colour = board[p]
        if colour == 0 or gid[p] >= 0:
            continue
        size, libs, _ = _flood(board, p, nbr, mark, stack, stones, n2 + 1)
        h = np.int64(0)
        for i in range(size):
            gid[stones[i]] = g
            h ^= _ZOBRIST[colour - 1, stones[i]]
        info[1, g] = libs
        info[2, g] = size
        info[3, g] = h
        g += 1

@numba.njit(cache=True, nogil=True)
def _fill_mask(s, mask, n, rules, nbr, mark, stack, stones):
    """Legal moves, as _try_move decides them point by point, but with every group's
    liberties counted once for the whole board (a mask is filled for every leaf the search
    expands, so this is Go's hottest kernel)."""
    mask[:] = False
    if s[_TERMINAL]:
        return
    n2 = n * n
    board = s[_HEADER : _HEADER + n2]
    color = s[_TO_PLAY] + 1
    ko = s[_KO]
    info = np.empty((4, n2), dtype=np.int64)
    _groups(board, nbr, mark, stack, stones, info)
    gid = info[0]
    seen = np.empty(4, dtype=np.int64)
    for p in range(n2):
        if board[p] != 0 or p == ko:
            continue
        legal = False
        ncap = 0
        caph = np.int64(0)
        nseen = 0
        for d in range(4):
            t = nbr[p, d]
            if t < 0:
                continue
            v = board[t]
            if v == 0:
                legal = True
                continue
            g = gid[t]
            if v == color:
                if info[1, g] >= 2:  # p is one liberty; the group keeps another
                    legal = True
            elif info[1, g] == 1:  # an opponent group whose only liberty is p: captured
                new = True
                for j in range(nseen):
                    if seen[j] == g:
                        new = False
                if new:
                    seen[nseen] = g
                    nseen += 1
                    ncap += info[2, g]
                    caph ^= info[3, g]
                    legal = True
        if legal and rules == CHINESE:
            legal = not _seen_before(s, s[_HASH] ^ _ZOBRIST[color - 1, p] ^ caph, ncap > 0, n2)
        mask[p] = legal
    mask[n2] = True


@numba.njit(cache=True, nogil=True)
def _legal_mask(s, mask, n, komi, rules, max_moves):
    nbr, mark, stack, stones = _scratch(n)
    _fill_mask(s, mask, n, rules, nbr, mark, stack, stones)


@numba.njit(cache=True, nogil=True)
def _observe(s, mask, out, n, komi, rules, max_moves):
    """Planes: mover's stones, opponent's stones, empty points the mover may not play
    (ko, suicide, superko), ones when white moves (komi is white's)."""
    me = s[_TO_PLAY] + 1
    white = 1.0 if s[_TO_PLAY] == 1 else 0.0
    for p in range(n * n):
        r = p // n
        c = p % n
        v = s[_HEADER + p]
        out[0, r, c] = 1.0 if v == me else 0.0
        out[1, r, c] = 1.0 if (v != 0 and v != me) else 0.0
        out[2, r, c] = 1.0 if (v == 0 and not mask[p] and not s[_TERMINAL]) else 0.0
        out[3, r, c] = white


@numba.njit(cache=True, nogil=True)
def _step_batch(states, actions, out_states, out_masks, out_terminal, out_outcome, out_obs, n, komi, rules, max_moves):
    nbr, mark, stack, stones = _scratch(n)
    for i in range(states.shape[0]):
        out_states[i] = states[i]
        _play(out_states[i], actions[i], n, komi, rules, max_moves, nbr, mark, stack, stones)
        _fill_mask(out_states[i], out_masks[i], n, rules, nbr, mark, stack, stones)
        out_terminal[i] = out_states[i, _TERMINAL] != 0
        out_outcome[i] = out_states[i, _OUTCOME]
        _observe(out_states[i], out_masks[i], out_obs[i], n, komi, rules, max_moves)


@numba.njit(cache=True, nogil=True)
def _is_own_eye(board, p, color, nbr):
    """A one-point eye of `color`: all orthogonal neighbours are its stones and the opponent
    holds at most one diagonal (none on the edge). Playouts never fill these."""
    for d in range(4):
        t = nbr[p, d]
        if t >= 0 and board[t] != color:
            return False
    bad = 0
    edge = False
    for d in range(4, 8):
        t = nbr[p, d]
        if t < 0:
            edge = True
        elif board[t] == 3 - color:
            bad += 1
    return bad == 0 if edge else bad <= 1


@numba.njit(cache=True, nogil=True)
def _random_game(s, nbr, mark, stack, stones, cand, n, komi, rules, max_moves):
    """Play s to the end in place with uniformly random legal moves from the thread's numba
    stream, never filling the mover's own one-point eyes (pass when nothing else is left).

    `cand[:m]` lists the empty points, kept up to date as stones go down (a full rescan only
    after a capture; rescanning every move was slower, docs/benchmarks.md). Each move
    draws from the list without replacement, moving refused points (the ko point, own eyes,
    illegal points) behind the part still drawn from; the order of the list does not change
    what is drawn, only which draw picks it."""
    n2 = n * n
    board = s[_HEADER : _HEADER + n2]
    m = 0
    for p in range(n2):
        if board[p] == 0:
            cand[m] = p
            m += 1
    while not s[_TERMINAL]:
        color = s[_TO_PLAY] + 1
        ko = s[_KO]
        chosen = n2
        live = m
        while live > 0:
            j = np.random.randint(live)
            p = cand[j]
            if p != ko and not _is_own_eye(board, p, color, nbr):
                legal, ncap, caph = _try_move(board, p, color, nbr, mark, stack, stones)
                if legal and rules == CHINESE:
                    legal = not _seen_before(s, s[_HASH] ^ _ZOBRIST[color - 1, p] ^ caph, ncap > 0, n2)
                if legal:
                    chosen = p
                    m -= 1
                    cand[j] = cand[m]
                    break
            live -= 1
            cand[j] = cand[live]
            cand[live] = p
        last_capture = s[_LASTCAP]
        _play(s, chosen, n, komi, rules, max_moves, nbr, mark, stack, stones)
        if s[_LASTCAP] != last_capture:  # stones were taken: their points are empty again
            m = 0
            for p in range(n2):
                if board[p] == 0:
                    cand[m] = p
                    m += 1


@numba.njit(cache=True, nogil=True)
def _playout(s0, n, komi, rules, max_moves):
    """One random playout of a copy of s0: (outcome for player 0, plies played)."""
    s = s0.copy()
    nbr, mark, stack, stones = _scratch(n)
    _random_game(s, nbr, mark, stack, stones, np.empty(n * n, dtype=np.int64), n, komi, rules, max_moves)
    return s[_OUTCOME], s[_PLY] - s0[_PLY]


@numba.njit(cache=True, nogil=True)
def _playout_batch(states, seed, out_outcome, out_plies, n, komi, rules, max_moves):
    """Random playouts of every state; seeds the thread's stream first unless seed < 0."""
    if seed >= 0:
        np.random.seed(seed)
    nbr, mark, stack, stones = _scratch(n)
    cand = np.empty(n * n, dtype=np.int64)
    for i in range(states.shape[0]):
        s = states[i].copy()
        _random_game(s, nbr, mark, stack, stones, cand, n, komi, rules, max_moves)
        out_outcome[i] = s[_OUTCOME]
        out_plies[i] = s[_PLY] - states[i, _PLY]


@numba.njit(cache=True, nogil=True)
def _score(s, n):
    nbr, mark, stack, _ = _scratch(n)
    return _areas(s[_HEADER : _HEADER + n * n], nbr, mark, stack)


@numba.njit(cache=True, nogil=True)
def _ownership(s, n):
    nbr, mark, stack, owner = _scratch(n)
    _owners(s[_HEADER : _HEADER + n * n], nbr, mark, stack, owner)
    return owner


class GoRules(NamedTuple):
    """The rule constants every Go kernel takes after its arrays. A typed tuple whose class
    lives beside the kernels, so the compiled search (mcts/compiled.py) finds them."""

    size: np.int64
    komi: np.float64
    rules: np.int64  # CHINESE or OPENSPIEL
    max_moves: np.int64
