"""Uniformly random play: openings for matches and self-play, and positions that span a game
(int8 calibration when no self-play positions are at hand)."""

from __future__ import annotations

import numpy as np

from games.base import Game


def random_opening(game: Game, plies: int, rng: np.random.Generator) -> list[int]:
    """`plies` random legal moves that do not end the game (fewer if 100 tries all ended it)."""
    for _ in range(100):
        s = game.new_initial_state()
        moves = []
        while len(moves) < plies and not s.is_terminal():
            a = int(rng.choice(s.legal_actions()))
            s.apply_action(a)
            moves.append(a)
        if not s.is_terminal():
            return moves
    return []


def random_game_observations(game: Game, n: int = 1024, seed: int = 0) -> np.ndarray:
    """Observations of `n` positions from uniformly random games, openings to endings."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        state = game.new_initial_state()
        while not state.is_terminal() and len(out) < n:
            out.append(state.observation())
            state.apply_action(int(rng.choice(state.legal_actions())))
    return np.stack(out).astype(np.float32)
