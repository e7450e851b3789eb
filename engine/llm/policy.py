"""The policy protocol every language-model backend meets, whatever serves the model.

For a batch of text prefixes, `propose` returns up to k next steps for each: the step's text
(up to and including the first stop string, or "" when the model ended the text), the sum of
its tokens' log-probabilities at temperature 1, and its token count. `score` gives the
log-probability of a given continuation. Every call adds the tokens it generated and the prompt
tokens it processed to `usage`, so that methods are compared at equal cost.

Sampling is seeded per prefix (`seeds`), so a problem's samples do not depend on which others
share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Proposal:
    text: str  # up to and including the stop string; "" when the model ended the text
    logprob: float  # sum over its tokens, at temperature 1
    tokens: int  # generated tokens, the stop (or end-of-text) token included
    ids: tuple[int, ...] = ()  # the generated token ids, where the backend has them
    token_logprobs: tuple[float, ...] = ()  # per generated token, where the backend has them
    top_logprobs: tuple[dict, ...] = ()  # per generated token: the `top` likeliest {piece: logprob}, when asked


@dataclass
class Candidates:
    proposals: list[Proposal]
    prompt_tokens: int  # prompt tokens processed for this prefix


@dataclass
class Usage:
    generated: int = 0
    prompt: int = 0
    calls: int = 0

    def add(self, generated: int, prompt: int) -> None:
        self.generated += generated
        self.prompt += prompt
        self.calls += 1


class Policy(Protocol):
    name: str
    usage: Usage

    def propose(self, prefixes: list[str], k: int, stop: tuple[str, ...], seeds: list[int],
                temperature: float = 1.0, max_tokens: int = 32) -> list[Candidates]:
        """k samples (temperature > 0) or one greedy continuation (temperature 0) per prefix."""

    def score(self, prefixes: list[str], continuations: list[str]) -> list[float]:
        """log p(continuation | prefix) for each pair (NaN where the backend cannot score)."""


class PolicyError(ValueError):
    """A policy that cannot be built or reached, said in one sentence."""
