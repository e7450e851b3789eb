"""Measuring over-optimisation as Gao, Schulman and Hilton (2022) did: reward against
d = sqrt(KL to the starting policy), for best-of-N and for RL, and their functional forms
    best-of-N:  gain(d) = d (alpha - beta d)
    RL:         gain(d) = d (alpha - beta log d)
where gain is the reward minus the starting policy's."""

from __future__ import annotations

import math

import numpy as np


def bon_kl(n: int) -> float:
    """KL from the starting policy to best-of-n over it: log n - (n - 1) / n (exact for
    distinct scores; the figure Gao et al. and Stiennon et al. use)."""
    return math.log(n) - (n - 1) / n


def best_of_n(proxy: np.ndarray, values: np.ndarray, n: int) -> float:
    """The expected `values` of the sample with the highest `proxy` among n drawn without
    replacement from the m given: the unbiased estimator from all m samples at once (the
    sample ranked i-th lowest of m is the best of n with probability C(i-1, n-1) / C(m, n))."""
    proxy, values = np.asarray(proxy, np.float64), np.asarray(values, np.float64)
    m = len(proxy)
    if not 1 <= n <= m:
        raise ValueError(f"best-of-{n} needs 1 <= n <= {m} samples.")
    order = np.argsort(proxy, kind="stable")
    i = np.arange(1, m + 1)
    log_w = np.full(m, -np.inf)
    ok = i >= n
    log_w[ok] = [math.lgamma(k) - math.lgamma(n) - math.lgamma(k - n + 1) for k in i[ok]]
    log_w -= math.lgamma(m + 1) - math.lgamma(n + 1) - math.lgamma(m - n + 1)
    return float(np.sum(np.exp(log_w) * values[order]))


def fit_bon(d: np.ndarray, gain: np.ndarray) -> tuple[float, float]:
    """Least-squares (alpha, beta) of gain = d (alpha - beta d)."""
    d = np.asarray(d, np.float64)
    a = np.stack([d, -d * d], 1)
    return tuple(float(x) for x in np.linalg.lstsq(a, np.asarray(gain, np.float64), rcond=None)[0])


def fit_rl(d: np.ndarray, gain: np.ndarray) -> tuple[float, float]:
    """Least-squares (alpha, beta) of gain = d (alpha - beta log d), over points with d > 0."""
    d, gain = np.asarray(d, np.float64), np.asarray(gain, np.float64)
    keep = d > 0
    d, gain = d[keep], gain[keep]
    a = np.stack([d, -d * np.log(d)], 1)
    return tuple(float(x) for x in np.linalg.lstsq(a, gain, rcond=None)[0])
