"""The command line: listings, clear one-sentence errors, and terminal play driven by input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine import cli


def run(*args, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_games_lists_every_game(capsys):
    assert cli.main(["games"]) == 0
    out = capsys.readouterr().out
    for row in ["tictactoe   3x3              9  3x3x3", "go9         9x9             82  4x9x9", "openspiel:NAME"]:
        assert row in out


@pytest.mark.parametrize("argv, fragment", [
    (["play", "nosuchgame"], "unknown game"),
    (["play", "connect4", "--agent", "grandmaster"], "unknown player"),
    (["play", "connect4", "--color", "purple"], "--color"),
    (["bench", "everything"], "unknown benchmark"),
    (["bench", "games", "--games", "chess"], "unknown benchmark game"),
    (["bench", "mcts", "--precision", "int8"], "--precision does not apply to the mcts benchmark"),
    (["bench", "selfplay", "--precision", "fp16"], "unknown precision"),
    (["bench", "overopt", "--samples", "64,x"], "--samples takes whole numbers separated by commas"),
    (["bench", "overopt", "--seeds", "3", "--samples", "64,128"], "gives 2 numbers for 3 seeds"),
    (["bench", "overopt", "--samples", "0"], "--samples takes positive numbers"),
])
def test_bad_arguments_give_one_sentence_and_exit_2(argv, fragment, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_play_tictactoe_from_input_to_the_end():
    # garbage, an illegal move, undo, help, then moves until the game ends or input runs out
    moves = "zz\nb2\nb2\nundo\nhelp\nb2\n" + "".join(f"{c}{r}\n" for r in "123" for c in "abc")
    proc = run("play", "tictactoe", "--agent", "random", "--seed", "3", stdin=moves)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Traceback" not in out + proc.stderr
    assert "is not a cell" in out and "is not legal here" in out and "Type a move" in out
    assert any(end in out for end in ("You win!", "You lose.", "Draw."))


def test_play_go_quits_cleanly_on_end_of_input():
    proc = run("play", "go9", "--agent", "random", "--seed", "1", stdin="D4\nE5\n")
    assert proc.returncode == 0 and "Game abandoned." in proc.stdout and "Traceback" not in proc.stderr


def test_output_into_a_closed_pipe_is_no_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "games"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the listing is written, as with `| head -0`
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err


def test_trainers_look_up_stderr_when_made_not_when_imported():
    """A default of `out=sys.stderr` is bound once, at import: a command run in-process under a
    replaced stderr (pytest's capture, a notebook) would leave every later trainer printing into
    a closed stream."""
    import inspect

    from engine.llm.remote import OpenAIPolicy
    from training.expert import ExpertIteration
    from training.pretrain import Pretrainer
    from training.reward import RewardTrainer
    from training.rlhf import RLHF
    from training.run import Trainer

    for cls in (ExpertIteration, Pretrainer, RewardTrainer, RLHF, Trainer, OpenAIPolicy):
        assert inspect.signature(cls.__init__).parameters["out"].default is None, cls.__name__
