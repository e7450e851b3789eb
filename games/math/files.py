"""Problems from JSONL files, one object a line:

- `{"id", "question", "answer"}`: GSM8K and MATH style (numbers, fractions, LaTeX; GSM8K's
  `#### 42` understood). The model writes its reasoning one line at a time and ends with
  `answer: X`; the checker compares X with the reference (games/math/answers.py).
- `{"id", "numbers", "target"}`: Countdown problems (games/math/countdown.py's rules).

A malformed file is one sentence naming the line and what is wrong.
"""

from __future__ import annotations

import json
import re

from games.math.answers import equivalent, normalize, numeric
from games.math.countdown import Countdown
from games.math.task import END, ILLEGAL, Problem, Step, Task, TaskError

MAX_LINE_CHARS = 400
_ANSWER = re.compile(r"^\s*answer\s*:\s*(.+)$", re.IGNORECASE)


def read_jsonl(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(f"cannot read problem file {path}: {getattr(e, 'strerror', None) or e}.") from None
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise TaskError(f"{path} line {i} is not a JSON object.") from None
        if not isinstance(row, dict):
            raise TaskError(f"{path} line {i} is not a JSON object.")
        rows.append(row)
    if not rows:
        raise TaskError(f"{path} holds no problems.")
    return rows


class QuestionTask(Task):
    """Free-text reasoning toward a final `answer:` line; the reference stays with the checker."""

    checks_at_search_time = False
    max_steps = 16

    def __init__(self, rows: list[dict], name: str):
        self.name, self.rows = name, rows

    def problems(self, split: str = "heldout", n: int | None = None, seed: int = 0) -> list[Problem]:
        rows = self.rows[:n] if n else self.rows
        return [Problem(str(r["id"]), f"question: {str(r['question']).strip()}\n", str(r["answer"])) for r in rows]

    def step(self, problem: Problem, solution: str, text: str) -> Step:
        body = text.rstrip("\n")
        if not body.strip():
            return END
        if len(body) > MAX_LINE_CHARS:
            return ILLEGAL
        m = _ANSWER.match(body)
        if m:
            answer = m.group(1).strip()
            return Step(True, f"answer: {answer}\n", f"answer:{normalize(answer)}", True, answer)
        return Step(True, body.strip() + "\n", " ".join(body.split()), False, None)

    def check_answer(self, problem: Problem, answer: str | None) -> bool:
        return equivalent(answer, problem.reference)

    def vote_key(self, problem: Problem, answer: str | None):
        if answer is None:
            return None
        value = numeric(answer)
        return value if value is not None else normalize(answer)


class CountdownFile(Countdown):
    def __init__(self, rows: list[dict], name: str):
        super().__init__(numbers=max(2, min(6, len(rows[0]["numbers"]))))
        self.rows, self.name = rows, name
        self.max_steps = max(len(r["numbers"]) for r in rows) - 1

    def problems(self, split: str = "heldout", n: int | None = None, seed: int = 0) -> list[Problem]:
        rows = self.rows[:n] if n else self.rows
        return [self.make_problem(r["numbers"], r["target"], str(r["id"])) for r in rows]


def load_file(path: str) -> Task:
    rows = read_jsonl(path)
    keys = set(rows[0])
    for i, row in enumerate(rows, 1):
        if {"numbers", "target"} <= keys:
            ok = (isinstance(row.get("numbers"), list) and 2 <= len(row["numbers"]) <= 6
                  and all(isinstance(x, int) and x > 0 for x in row["numbers"]) and isinstance(row.get("target"), int))
            what = '"numbers" (2 to 6 positive integers) and "target" (an integer)'
        else:
            ok = "question" in row and "answer" in row and isinstance(row["question"], str)
            what = '"question" (text) and "answer"'
        if not ok or "id" not in row:
            raise TaskError(f"{path}: problem {i} needs \"id\" and {what}.")
    return CountdownFile(rows, path) if {"numbers", "target"} <= keys else QuestionTask(rows, path)
