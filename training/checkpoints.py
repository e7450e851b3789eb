"""Step-directory checkpoints behind symbolic links, shared by the language-model trainers
(training/expert.py, training/rlhf.py): a Hugging Face model directory cannot be renamed over
another, so each checkpoint is its own directory and `latest`, `best` and `model` are links
swapped atomically."""

from __future__ import annotations

import json
import os
import shutil


def link(run_dir: str, name: str, target: str) -> None:
    """Point `run_dir/name` at `target` atomically."""
    tmp = os.path.join(run_dir, f".{name}.tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(os.path.relpath(target, run_dir), tmp)
    os.replace(tmp, os.path.join(run_dir, name))


def prune(run_dir: str, directory: str, keep: int) -> None:
    """Remove all but the last `keep` checkpoints in `directory`, never one a link points at."""
    protected = {os.path.realpath(os.path.join(run_dir, n)) for n in ("latest", "best")}
    for old in sorted(os.listdir(directory))[:-keep]:
        full = os.path.join(directory, old)
        if os.path.realpath(full) not in protected:
            shutil.rmtree(full, ignore_errors=True)


def commit(run_dir: str, path: str, state: dict, state_path: str, best: bool, keep: int) -> None:
    """Make the checkpoint directory at `path` (already written) the run's latest: the state
    goes to a temporary file, the links move, and replacing the state file is the commit point
    (a run killed before it resumes from the previous checkpoint); then old ones are pruned."""
    import torch

    tmp = state_path + ".tmp"
    torch.save(state, tmp)
    link(run_dir, "latest", path)
    if best:
        link(run_dir, "best", path)
        link(run_dir, "model", path)
    os.replace(tmp, state_path)
    prune(run_dir, os.path.dirname(path), keep)


def trim_jsonl(path: str, key: str, upto, last: dict | None = None) -> None:
    """Keep the complete JSON lines of `path` whose `key` is at most `upto` (what a resumed run
    has already done; later ones are about to be redone), and append `last`, the saved state's
    own line, when the file stops short of it (a run killed between its save and its log)."""
    kept: list[tuple[str, object]] = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    value = json.loads(line)[key]
                except (ValueError, KeyError, TypeError):
                    continue
                if line.endswith("\n") and value <= upto:
                    kept.append((line, value))
    if last and (not kept or kept[-1][1] < upto):
        kept.append((json.dumps(last) + "\n", upto))
    with open(path, "w") as f:
        f.writelines(line for line, _ in kept)
