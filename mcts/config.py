"""Search settings: `SearchConfig` (what people set, each field described) and `KernelParams`
(the same numbers as one typed tuple for the numba kernels, so no setting can land in the wrong
argument slot)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from mcts.kernels import GUMBEL, PUCT
from mcts.settings import setting


class KernelParams(NamedTuple):
    """The scalar settings `select` reads, with fixed types (a changed type would recompile)."""

    num_simulations: int  # simulations per tree in this search
    leaves: int  # leaves per tree per wave
    algorithm: int  # PUCT or GUMBEL
    c_init: float
    c_base: float
    fpu_reduction: float
    fpu_value: float  # NaN: parent value minus the reduction
    c_visit: float
    c_scale: float


@dataclass
class SearchConfig:
    num_simulations: int = setting(200, "simulations per search (per tree)")
    algorithm: str = setting("puct", "puct (AlphaZero) or gumbel (root Gumbel-top-k with sequential halving)")
    leaves_per_wave: int = setting(1, "leaves per tree per wave; virtual loss keeps them apart")
    c_init: float = setting(1.25, "PUCT exploration: c(N) = c_init + log((N + c_base + 1) / c_base)")
    c_base: float = setting(19652.0, "PUCT: visits at which exploration starts to grow")
    fpu_reduction: float = setting(0.25, "an unvisited child is worth its parent's value minus this * "
                                         "sqrt(visited prior) (first-play urgency)")
    fpu_value: float | None = setting(None, "or this fixed value for unvisited children (1.0: every move "
                                            "once first, as UCT does)")
    dirichlet_fraction: float = setting(0.0, "share of root prior replaced by Dirichlet noise (0.25 in self-play)")
    dirichlet_alpha: float | None = setting(None, "Dirichlet alpha; unset: 10 / number of legal moves")
    max_considered: int = setting(16, "Gumbel: root actions sampled without replacement")
    gumbel_scale: float = setting(1.0, "Gumbel: noise scale (0: the top-k moves by prior)")
    c_visit: float = setting(50.0, "Gumbel: sigma(q) = (c_visit + max N) * c_scale * q")
    c_scale: float = setting(1.0, "Gumbel: see c_visit")
    temperature: float = setting(0.0, "PUCT move choice: 0 = most visited, else sample visits^(1/T)")
    win_check: bool = setting(False, "games where one move can win (k in a row): a node whose mover can "
                                     "win at once is solved on expansion")

    def __post_init__(self):
        problems = []
        if self.num_simulations < 1:
            problems.append("num_simulations must be at least 1")
        if self.algorithm not in ("puct", "gumbel"):
            problems.append(f"algorithm must be puct or gumbel, not {self.algorithm!r}")
        if self.leaves_per_wave < 1:
            problems.append("leaves_per_wave must be at least 1")
        if not 0.0 <= self.dirichlet_fraction <= 1.0:
            problems.append("dirichlet_fraction must be in [0, 1]")
        if self.max_considered < 1:
            problems.append("max_considered must be at least 1")
        if self.temperature < 0:
            problems.append("temperature must be >= 0")
        if problems:
            raise ValueError("bad search settings: " + "; ".join(problems) + ".")

    def kernel_params(self) -> KernelParams:
        return KernelParams(
            num_simulations=int(self.num_simulations), leaves=int(self.leaves_per_wave),
            algorithm=GUMBEL if self.algorithm == "gumbel" else PUCT, c_init=float(self.c_init),
            c_base=float(self.c_base), fpu_reduction=float(self.fpu_reduction),
            fpu_value=math.nan if self.fpu_value is None else float(self.fpu_value),
            c_visit=float(self.c_visit), c_scale=float(self.c_scale))
