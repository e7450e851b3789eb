"""Tokens per second of the local language-model backend (the built-in architecture, random
weights: speed does not depend on them) by batch size, sampling 32 tokens per row with the KV
cache, on the CPU and on a GPU when there is one.

    move37 bench llm [--seconds S]
"""

from __future__ import annotations

import tempfile
import time

import torch

from engine.llm.hfdir import make_model, make_tokenizer, save
from engine.llm.local import LocalPolicy

PROMPT = "numbers: 25 5 4 7\ntarget: 80\n"


def rate(policy: LocalPolicy, batch: int, seconds: float) -> float:
    prefixes = [PROMPT] * batch
    policy.propose(prefixes[:1], 1, (), [0], max_tokens=4)  # warm-up
    start, tokens = time.perf_counter(), 0
    rounds = 0
    while time.perf_counter() - start < seconds or rounds == 0:
        before = policy.usage.generated
        policy.propose(prefixes, 1, (), list(range(batch)), max_tokens=32)
        tokens += policy.usage.generated - before
        rounds += 1
    return tokens / (time.perf_counter() - start)


def main(seconds: float = 3.0, names: list[str] | None = None) -> list[dict]:
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as d:
        tok = make_tokenizer()
        save(make_model(tok, "small"), tok, d)
        for device in devices:
            policy = LocalPolicy(d, device=device)
            print(f"built-in architecture (small), {device}, {torch.get_num_threads()} CPU threads, 32 tokens per row")
            for batch in (1, 4, 16, 64, 256):
                r = rate(policy, batch, seconds)
                rows.append({"device": device, "batch": batch, "tokens_per_s": r})
                print(f"  batch {batch:>3}: {r:10,.0f} generated tokens/s")
    return rows
