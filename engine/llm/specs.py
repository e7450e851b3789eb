"""Policy specs, shared by the CLI and the Python API:

    builtin            the task's built-in base model in its default place (MOVE37_HOME, else
                       ~/.cache/move37: builtin/TASK/model); `move37 pretrain TASK` makes it
    builtin:DIR        a built-in model directory, or a pretraining run directory holding one
    hf:DIR             any local Hugging Face causal language model directory
    openai:URL[,k=v]   any OpenAI-compatible completions server (vLLM, llama.cpp, `move37 serve`);
                       settings in engine/llm/remote.py
"""

from __future__ import annotations

import os
import re

from engine.llm.hfdir import last_complete
from engine.llm.policy import PolicyError

SPEC_FORMS = ["builtin", "builtin:DIR", "hf:DIR", "openai:URL[,model=NAME,...]"]


def home() -> str:
    return os.environ.get("MOVE37_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "move37")


def builtin_run_dir(task_name: str) -> str:
    """Where `move37 pretrain TASK` keeps the task's base model by default."""
    return os.path.join(home(), "builtin", re.sub(r"[^A-Za-z0-9_.=,-]+", "_", task_name))


def model_dir(path: str) -> str | None:
    """The model directory at `path`: itself, or a run directory's `model/`."""
    for candidate in (path, os.path.join(path, "model")):
        if found := last_complete(candidate):
            return found
    return None


def make_policy(spec: str, task_name: str | None = None, device: str = "auto"):
    s = str(spec).strip()
    kind, _, rest = s.partition(":")
    if kind == "builtin":
        path = rest or (builtin_run_dir(task_name) if task_name else "")
        found = model_dir(path) if path else None
        if found is None:
            if not rest:
                raise PolicyError(f"the built-in model for {task_name} is not trained yet; "
                                  f"`move37 pretrain {task_name}` makes it (minutes on a CPU).")
            raise PolicyError(f"{rest} holds no built-in model (a model directory, or a run directory with model/).")
        from engine.llm.local import LocalPolicy

        return LocalPolicy(found, name=s, device=device)
    if kind == "hf":
        if not rest:
            raise PolicyError("hf: needs a model directory, like hf:/models/qwen2.5-0.5b.")
        from engine.llm.local import LocalPolicy

        return LocalPolicy(rest, name=s, device=device)
    if kind == "openai":
        from engine.llm.remote import OpenAIPolicy, parse_spec

        url, settings = parse_spec(rest)
        return OpenAIPolicy(url, **settings)
    raise PolicyError(f"unknown policy {spec!r}; valid forms: {', '.join(SPEC_FORMS)}.")
