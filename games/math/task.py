"""The vocabulary every reasoning task shares, as games/base.py is for games: a `Problem`
renders a prompt; a solution is lines appended to it, one step a line; `Task.step` is the legal-move
test (it completes a step the way the rules do and says whether the solution ends there), and
`Task.check` decides a whole solution without ever running its text."""

from __future__ import annotations

from dataclasses import dataclass, field


class TaskError(ValueError):
    """A task name, parameter or problem file that cannot be used, said in one sentence."""


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: str  # the text a model continues; a solution is appended line by line
    reference: str | None = None  # the reference answer, for the checker only (never in the prompt)
    numbers: tuple[int, ...] = ()  # Countdown
    target: int | None = None  # Countdown
    meta: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Step:
    """A proposed step as the rules take it."""

    legal: bool
    line: str = ""  # the line as it enters the solution (rules' result appended, newline ended)
    key: str = ""  # canonical key: steps with equal keys lead to the same place and merge
    done: bool = False  # the solution ends with this step
    answer: str | None = None  # the final answer, when the solution ends with one


ILLEGAL = Step(False)
END = Step(True, "", "<end>", True, None)  # the model stopped without an answer


class Task:
    name: str
    stop: tuple[str, ...] = ("\n",)  # a step's text ends at the first of these (included)
    checks_at_search_time: bool = False  # True: the problem itself defines a solution (Countdown)
    max_steps: int = 12

    def problems(self, split: str = "train", n: int = 1000, seed: int = 0) -> list[Problem]:
        raise NotImplementedError

    def step(self, problem: Problem, solution: str, text: str) -> Step:
        """The step `text` (as generated, up to and including its stop) after `solution`."""
        raise NotImplementedError

    def replay(self, problem: Problem, solution: str) -> tuple[bool, str | None, int]:
        """Walk a whole solution's lines through `step`: (every line legal and the last one
        ends it, its final answer, the number of steps)."""
        done, answer, steps, text = False, None, 0, ""
        for line in solution.splitlines(keepends=True):
            if done or not line.strip():
                continue
            s = self.step(problem, text, line)
            if not s.legal:
                return False, None, steps
            text += s.line
            steps += 1
            done, answer = s.done, s.answer
        return done, answer, steps

    def answer(self, problem: Problem, solution: str) -> str | None:
        return self.replay(problem, solution)[1]

    def check(self, problem: Problem, solution: str) -> bool:
        """Whether a whole solution is right."""
        return self.check_answer(problem, self.answer(problem, solution))

    def check_answer(self, problem: Problem, answer: str | None) -> bool:
        raise NotImplementedError

    def vote_key(self, problem: Problem, answer: str | None):
        """What answers are grouped by when voting (equal values vote together)."""
        return answer
