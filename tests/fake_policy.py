"""A fake language-model policy for search tests: every proposal is a pure function of (prefix,
seed, sample index), drawn from a generator seeded by a hash of them, so a search over it is
exactly reproducible and a reference search can call it in any order. For Countdown prefixes it
writes `a op b=` over numbers of the prompt and of the lines so far (some not available, so the
rules reject them), sometimes junk, sometimes the end of the text."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from engine.llm.policy import Candidates, Proposal, Usage

_NUMBER = re.compile(r"\d+")


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little"))


class FakePolicy:
    name = "fake"

    def __init__(self, junk: float = 0.1, end: float = 0.05):
        self.junk, self.end = junk, end
        self.usage = Usage()

    def step(self, prefix: str, seed: int, j: int) -> Proposal:
        rng = _rng(prefix, seed, j)
        lines = prefix.splitlines()
        numbers = [int(x) for x in _NUMBER.findall(lines[0])] if lines else []
        last = lines[-1] if len(lines) > 2 else ""
        if "[" in last:  # the numbers the rules say are left, and a few that are not
            numbers = [int(x) for x in _NUMBER.findall(last.split("[", 1)[1])] + numbers[:1]
        u = rng.random()
        if u < self.end or len(numbers) < 2:
            text = ""
        elif u < self.end + self.junk:
            text = "".join(rng.choice(list("ab+-=9 "), size=int(rng.integers(1, 6))))
            text = text if "=" in text else text + "="
        else:
            a, b = rng.choice(numbers, size=2, replace=False) if len(set(numbers)) > 1 else (numbers[0], numbers[0])
            text = f"{a}{'+-*/'[int(rng.integers(4))]}{b}="
        tokens = max(1, len(text))
        return Proposal(text, float(-0.5 * tokens - rng.random()), tokens)

    def propose(self, prefixes, k, stop, seeds, temperature=1.0, max_tokens=32):
        out = []
        for prefix, seed in zip(prefixes, seeds):
            props = [self.step(prefix, 0 if temperature == 0 else seed, 0 if temperature == 0 else j)
                     for j in range(1 if temperature == 0 else k)]
            out.append(Candidates(props, len(prefix)))
            self.usage.add(sum(p.tokens for p in props), len(prefix))
        return out

    def score(self, prefixes, continuations):
        return [-0.5 * len(c) for c in continuations]
