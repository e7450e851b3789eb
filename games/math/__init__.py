"""The rules of reasoning: tasks whose answers can be checked, and checkers that never run the
text they check. `make_task("countdown")`, `make_task("arith(ops=4)")`, `make_task("file.jsonl")`."""

from __future__ import annotations

import os

from games.math.arith import Arith
from games.math.countdown import Countdown
from games.math.files import load_file
from games.math.task import Problem, Step, Task, TaskError
from games.registry import parse_spec


def _reviews(**params):
    """games/text/reviews.py imports this package's task module, so it is imported on use."""
    from games.text.reviews import Reviews

    return Reviews(**params)


TASKS = {"countdown": Countdown, "arith": Arith, "reviews": _reviews}


def make_task(spec: str) -> Task:
    """A task by name (`countdown`, `countdown(numbers=5,exact=true)`, `arith(ops=4)`) or a
    JSONL file of problems."""
    text = str(spec).strip()
    if text.endswith(".jsonl") or os.path.isfile(text):
        return load_file(text)
    try:
        name, params = parse_spec(text)
    except ValueError as e:
        raise TaskError(str(e)) from None
    if name not in TASKS:
        raise TaskError(f"unknown task {spec!r}; tasks: {', '.join(TASKS)}, or a .jsonl file of problems.")
    try:
        return TASKS[name](**params)
    except TypeError as e:
        raise TaskError(f"{name}: bad parameters {params}: {e}.") from None


__all__ = ["make_task", "Task", "Problem", "Step", "TaskError", "TASKS"]
