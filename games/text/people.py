"""The stand-in for people: a hidden gold scorer of reviews, and preference labels drawn from
it with Bradley-Terry noise.

Only what makes preference data and what monitors an experiment may import this module; the
reward model and the optimisers never do (tests/test_reward.py holds them to it), so that
everything they learn comes through the labels, as it would from real raters.

People like a review that is positive, about the place, varied and short:
    gold = sum over sentences of sentiment (+1, -1, 0), a third for one about another place
           - 2 for each sentence that repeats an earlier one (and counts nothing itself)
           - 1.5 for each sentence beyond the third
           - 2 for each sentence the grammar does not make (nonsense)
so the best reviews (three different positive sentences about the place) score 3; "great. great.
great. great." scores below a plain one-sentence review.
"""

from __future__ import annotations

import numpy as np

from games.math.task import Problem
from games.text.reviews import PLACES, parse, place_of, split_sentences

REPEAT_COST = 2.0
LENGTH_COST = 1.5
NONSENSE_COST = 2.0
IDEAL_SENTENCES = 3
OFF_TOPIC_WEIGHT = 1 / 3


def gold_score(problem: Problem, review: str) -> float:
    place = place_of(problem)
    seen: set[str] = set()
    score = 0.0
    sentences = parse(review)
    if not sentences:
        return -NONSENSE_COST  # an empty review says nothing
    for text, s in zip(split_sentences(review), sentences):
        if s is None:
            score -= NONSENSE_COST
        elif text in seen:
            score -= REPEAT_COST
        else:
            score += s.sentiment * (1.0 if s.noun in PLACES[place] else OFF_TOPIC_WEIGHT)
        seen.add(text)
    return score - LENGTH_COST * max(0, len(sentences) - IDEAL_SENTENCES)


def preference_probability(gold_a: float, gold_b: float, temperature: float = 1.0) -> float:
    """P(a is preferred to b) under Bradley-Terry with the gold scores as strengths."""
    return float(1.0 / (1.0 + np.exp(-(gold_a - gold_b) / temperature)))


def label_pairs(problems: list[Problem], outputs_a: list[str], outputs_b: list[str], seed: int,
                temperature: float = 1.0) -> tuple[list[dict], float]:
    """Preference rows {"prompt", "chosen", "rejected"} for each (a, b), the choice drawn from
    Bradley-Terry on the gold scores; and the labels' noise ceiling: the expected accuracy of
    the gold ranking itself on these labels (no reward model can expect to beat it)."""
    rng = np.random.default_rng([seed, 4242])
    rows, ceiling = [], 0.0
    for problem, a, b in zip(problems, outputs_a, outputs_b):
        p = preference_probability(gold_score(problem, a), gold_score(problem, b), temperature)
        ceiling += max(p, 1 - p)
        chosen, rejected = (a, b) if rng.random() < p else (b, a)
        rows.append({"prompt": problem.prompt, "chosen": chosen, "rejected": rejected})
    return rows, ceiling / max(len(rows), 1)
