"""`reviews`: write a short review of a place. The task of the RLHF half, where no checker
exists: a review is not right or wrong, only liked more or less.

Prompt and output (one line; the output ends at its newline):

    review: cafe
    the coffee was great. i loved the staff. the cake was a bit dry.

Why this stands for the real case. The outputs are free text from a language model, so an
optimiser can move anywhere in text space, and the base model puts a thin tail on exactly the
texts that game a learned reward: long reviews that pile up praise and reviews that repeat a
sentence. People (the hidden scorer in games/text/people.py) like a review that is positive,
about the place, varied and short; a reward model learned from a few thousand rankings of
typical reviews learns "praise is good" well and "but not twice, and not ten sentences" poorly,
because its data holds few such reviews: the gap an optimiser finds, as it finds "the the the".

The corpus (what `move37 pretrain reviews` trains on) is drawn from a small grammar: 1-6
sentences of four forms, each positive, negative or neutral, about one of the place's things or
(sometimes) another place's; now and then a sentence is repeated. `parse` reads a review back
into sentences by the same grammar, or None where it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from games.math.task import ILLEGAL, Problem, Step, Task, TaskError

PLACES = {
    "cafe": ("coffee", "cake", "staff", "music"),
    "hotel": ("room", "bed", "breakfast", "view"),
    "museum": ("paintings", "guide", "shop", "garden"),
    "park": ("trees", "lake", "paths", "benches"),
    "bakery": ("bread", "pastries", "coffee", "owner"),
    "cinema": ("film", "seats", "popcorn", "screen"),
    "library": ("books", "desks", "staff", "lights"),
    "pool": ("water", "showers", "lifeguard", "slide"),
}
HELDOUT_PLACES = ("bakery", "pool")  # evaluation prompts only
ADJECTIVES = {
    +1: ("great", "lovely", "fresh", "friendly", "clean", "cosy"),
    -1: ("cold", "rude", "dirty", "noisy", "bland", "slow"),
    0: ("fine", "okay", "small", "busy"),
}
VERBS = {+1: ("loved", "enjoyed", "liked"), -1: ("hated", "disliked"), 0: ("noticed", "tried")}
INTENSIFIERS = ("very", "really", "so")
SENTENCES_P = (0.2, 0.35, 0.3, 0.1, 0.03, 0.02)  # how many sentences a corpus review has: 1..6
SENTIMENT_P = {+1: 0.4, -1: 0.35, 0: 0.25}
REPEAT_P = 0.05  # a corpus sentence repeats the one before it
OFF_TOPIC_P = 0.15  # a corpus sentence is about another place's thing
MAX_CHARS = 160  # an output is cut here


@dataclass(frozen=True)
class Sentence:
    text: str
    noun: str
    sentiment: int  # +1, -1, 0


_WORDS = {w: s for s, ws in ADJECTIVES.items() for w in ws}
_VERBS = {w: s for s, ws in VERBS.items() for w in ws}
_NOUNS = sorted({n for ns in PLACES.values() for n in ns})
_ADJ = "|".join(_WORDS)
_NOUN = "|".join(_NOUNS)
FORMS = (  # the grammar: (pattern, how to read its sentiment)
    re.compile(rf"the ({_NOUN}) (?:was|were) (?:(?:{'|'.join(INTENSIFIERS)}) )?({_ADJ})"),
    re.compile(rf"i ({'|'.join(_VERBS)}) the ({_NOUN})"),
    re.compile(rf"({_ADJ}) ({_NOUN})"),
)


def parse_sentence(text: str) -> Sentence | None:
    for form in FORMS:
        m = form.fullmatch(text)
        if m is None:
            continue
        a, b = m.groups()
        if a in _VERBS:
            return Sentence(text, b, _VERBS[a])
        if a in _WORDS:
            return Sentence(text, b, _WORDS[a])
        return Sentence(text, a, _WORDS[b])
    return None


def split_sentences(review: str) -> list[str]:
    """A review's sentences: the text between full stops, stripped (the last may lack its stop)."""
    parts = [p.strip() for p in review.strip().split(".")]
    return [p for p in parts if p]


def parse(review: str) -> list[Sentence | None]:
    """Each sentence of the review read by the grammar (None for one the grammar does not make)."""
    return [parse_sentence(s) for s in split_sentences(review)]


def place_of(problem: Problem) -> str:
    return problem.meta["place"]


def sentence(rng: np.random.Generator, place: str) -> str:
    """One corpus sentence about `place` (sometimes about another place's thing)."""
    places = list(PLACES)
    about = places[rng.integers(len(places))] if rng.random() < OFF_TOPIC_P else place
    noun = PLACES[about][rng.integers(4)]
    sentiment = int(rng.choice([1, -1, 0], p=[SENTIMENT_P[1], SENTIMENT_P[-1], SENTIMENT_P[0]]))
    form = rng.integers(4)
    if form == 3 and sentiment in VERBS:
        verbs = VERBS[sentiment]
        return f"i {verbs[rng.integers(len(verbs))]} the {noun}"
    adjs = ADJECTIVES[sentiment]
    adj = adjs[rng.integers(len(adjs))]
    verb = "were" if noun.endswith("s") and noun != "lifeguards" else "was"
    if form == 0:
        return f"the {noun} {verb} {adj}"
    if form == 1:
        return f"the {noun} {verb} {INTENSIFIERS[rng.integers(3)]} {adj}"
    return f"{adj} {noun}"


def corpus_review(rng: np.random.Generator, place: str) -> str:
    """One review of the pretraining corpus, newline-ended."""
    n = int(rng.choice(len(SENTENCES_P), p=SENTENCES_P)) + 1
    out: list[str] = []
    for _ in range(n):
        out.append(out[-1] if out and rng.random() < REPEAT_P else sentence(rng, place))
    return ". ".join(out) + ".\n"


class Reviews(Task):
    """Prompts `review: PLACE`; an output is one line. No checker: `check` refuses."""

    name = "reviews"
    stop = ("\n",)
    max_steps = 1
    pretrain_steps = 800  # the base model's schedule (docs/RLHF.md)

    def __init__(self):
        self.places = [p for p in PLACES if p not in HELDOUT_PLACES]

    def problems(self, split: str = "train", n: int = 1000, seed: int = 0) -> list[Problem]:
        if split not in ("train", "heldout"):
            raise TaskError(f"split must be train or heldout, not {split!r}.")
        pool = self.places if split == "train" else list(HELDOUT_PLACES)
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, 37])
        picks = rng.integers(len(pool), size=n)
        return [Problem(f"reviews-{split}-{seed}-{i}", f"review: {pool[k]}\n", meta={"place": pool[k]})
                for i, k in enumerate(picks)]

    def step(self, problem: Problem, solution: str, text: str) -> Step:
        line = text if text.endswith("\n") else text + "\n"
        if solution or not line.strip():
            return ILLEGAL
        return Step(True, line, line.strip(), True, line.strip())

    def check_answer(self, problem: Problem, answer: str | None) -> bool:
        raise TaskError("reviews has no checker: score its outputs with a reward model (move37 reward).")

    def trace(self, rng: np.random.Generator) -> tuple[str, str]:
        """(prompt, review) for pretraining: any place, the held-out ones included (the model
        learns the language; which reviews people like is for the reward model to learn)."""
        place = list(PLACES)[rng.integers(len(PLACES))]
        return f"review: {place}\n", corpus_review(rng, place)
