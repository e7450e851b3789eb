"""Preference data as JSONL, one pair a line: {"prompt": ..., "chosen": ..., "rejected": ...},
the format of TRL's reward trainer and of Anthropic's HH data. `chosen` and `rejected` are the
outputs only (what follows the prompt). A file that does not hold that is refused with one
sentence naming the line; nothing is guessed."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass


class PreferenceError(ValueError):
    """A preference file that cannot be used, said in one sentence."""


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str


def read_preferences(path: str) -> list[Pair]:
    if not os.path.isfile(path):
        raise PreferenceError(f"{path}: no such preference file.")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise PreferenceError(f"{path}, line {number}: not JSON ({e.msg}).") from None
            if not isinstance(row, dict):
                raise PreferenceError(f"{path}, line {number}: expected an object with prompt, chosen and rejected.")
            missing = [k for k in ("prompt", "chosen", "rejected") if not isinstance(row.get(k), str)]
            if missing:
                raise PreferenceError(f"{path}, line {number}: {', '.join(missing)} missing or not a string "
                                      f"(each line needs prompt, chosen and rejected).")
            pairs.append(Pair(row["prompt"], row["chosen"], row["rejected"]))
    if not pairs:
        raise PreferenceError(f"{path}: no preference pairs in the file.")
    return pairs


def write_preferences(path: str, rows: list[dict]) -> None:
    """Written atomically: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}) + "\n")
    os.replace(tmp, path)


def sample_pairs(task, policy, n: int, seed: int):
    """n training prompts with two sampled outputs each (what people are asked to rank)."""
    from games.text.reviews import MAX_CHARS

    problems = task.problems("train", n, seed=seed)
    cands = []
    for start in range(0, n, 128):  # bounded batches: the cache of every row is held at once
        chunk = problems[start:start + 128]
        seeds = [seed * 1_000_003 + start + i for i in range(len(chunk))]
        cands += policy.propose([p.prompt for p in chunk], 2, ("\n",), seeds, 1.0, MAX_CHARS)
    return problems, [c.proposals[0].text for c in cands], [c.proposals[1].text for c in cands]
