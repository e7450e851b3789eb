"""Step-directory checkpoints behind symbolic links, shared by the language-model trainers
(training/expert.py, training/rlhf.py): a Hugging Face model directory cannot be renamed over
another, so each checkpoint is its own directory and `latest`, `best` and `model` are links
swapped atomically."""

from __future__ import annotations

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
