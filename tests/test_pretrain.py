"""`move37 pretrain`: traces follow the task's rules, the prompt carries no loss, a short run
leaves a loadable model directory and metrics, and a run killed with SIGKILL resumes without a
gap or a duplicate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from games.math import make_task
from games.math.task import TaskError
from training.pretrain import PretrainConfig, Pretrainer, make_trace


def test_countdown_traces_are_legal_chains_that_never_reach_the_target():
    """...and run until the numbers are used up, so the model never learns to stop early."""
    task = make_task("countdown")
    rng = np.random.default_rng(0)
    lengths = []
    for _ in range(300):
        prompt, solution = make_trace(task, rng)
        numbers = tuple(int(x) for x in prompt.splitlines()[0].split()[1:])
        target = int(prompt.splitlines()[1].split()[1])
        problem = task.make_problem(numbers, target, "t")
        assert problem.prompt == prompt and target not in task.heldout_targets
        done, answer, steps = task.replay(problem, solution)
        assert steps == len(solution.splitlines()) >= 1 and answer is None and not task.check(problem, solution)
        lengths.append(steps)
    assert np.mean(np.array(lengths) == task.count - 1) > 0.95  # a chain stops early only when no step avoids the target


def test_arith_traces_are_right_and_question_files_have_none(tmp_path):
    task = make_task("arith")
    rng = np.random.default_rng(1)
    for _ in range(100):
        prompt, solution = make_trace(task, rng)
        numbers, ops = task.sample(np.random.default_rng(5))
        assert solution.endswith("\n") and solution.splitlines()[-1].startswith("answer: ")
        problem = type(task.problems("heldout", 1)[0])("t", prompt, solution.splitlines()[-1][8:])
        assert task.check(problem, solution)
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": 1, "question": "2+2?", "answer": "4"}\n')
    with pytest.raises(TaskError, match="has none"):
        make_trace(make_task(str(f)), rng)


def test_the_prompt_and_the_rules_results_carry_no_loss(tmp_path):
    """The numbers-left list after each result does carry loss: copying it is what teaches the
    model to copy operands (docs/LLM.md)."""
    trainer = Pretrainer(make_task("countdown"), str(tmp_path / "run"), PretrainConfig(size="tiny", batch_size=8))
    tok = trainer.tokenizer
    try:
        ids, labels, mask = trainer.batch()
        for row, lab in zip(ids.tolist(), labels.tolist()):
            n = sum(1 for t in row if t != tok.pad_token_id)
            text = tok.decode(row[1:n - 1])  # without bos and eos
            prompt = "".join(text.splitlines(keepends=True)[:2])
            solution = text[len(prompt):]
            p = len(tok(prompt, add_special_tokens=False)["input_ids"])
            assert all(x == -100 for x in lab[: 1 + p])  # bos and the prompt
            enc = tok(solution, add_special_tokens=False, return_offsets_mapping=True)
            for k, (a, b) in enumerate(enc["offset_mapping"]):
                line_start = solution.rfind("\n", 0, a) + 1
                eq = solution.find("=", line_start)
                by_rules = -1 < eq < a and solution[eq + 1:a + 1].isdigit()  # the result the rules computed
                assert (lab[1 + p + k] == -100) == by_rules, (solution, a)
                assert by_rules or lab[1 + p + k] == row[1 + p + k]
            assert lab[n - 1] == tok.eos_token_id  # when to stop is the model's to learn
    finally:
        trainer.lock.release()


def pretrain(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "pretrain", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_a_short_run_and_resume_after_sigkill(tmp_path):
    run = tmp_path / "run"
    args = ["countdown", "--run-dir", str(run), "--size", "tiny", "--steps", "100", "--batch-size", "4",
            "--save-every", "25"]
    env = {**os.environ, "MOVE37_HOME": str(tmp_path / "home")}
    proc = pretrain(*args, env=env)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "state.pt").exists():
        time.sleep(0.05)
    time.sleep(0.5)  # between checkpoints, or in one
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    import torch

    killed_at = torch.load(run / "state.pt", weights_only=False)["step"]
    assert 25 <= killed_at < 100
    done = pretrain(*args, "--resume", env=env)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 100 and steps == list(range(25, 101, 25))
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(str(run / "model"))
    assert "legal_step_share" in json.loads(metrics.read_text().splitlines()[-1])
    again = pretrain(*args, env=env)
    assert again.wait(60) == 2 and "--resume" in again.stderr.read()
