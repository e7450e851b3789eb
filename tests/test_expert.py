"""Expert iteration (`move37 train TASK` for reasoning tasks): the selection rules on hand-made
candidate sets, the loss masking, the problem stream, and a run killed with SIGKILL mid-iteration
that resumes with nothing lost, repeated or corrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from engine.llm.hfdir import make_model, make_tokenizer, save
from games.math import make_task
from training.expert import Candidate, grpo_groups, problem_batch, relabel, select
from training.pretrain import RULES_WRITE, lm_batch


def test_selection_rules():
    c = [Candidate("a\nb\n", True, 10, -3.0), Candidate("c\n", True, 6, -5.0), Candidate("d\n", True, 6, -2.0),
         Candidate("e\n", False, 2, -0.1), Candidate("c\n", True, 6, -5.0)]
    assert select(c, "right_short") == [c[2]]  # shortest right; the tie between c and d goes to the likelier d
    assert select(c, "right") == [c[0], c[1], c[2]]  # every distinct right one
    assert select(c, "all") == [c[0], c[1], c[2], c[3]]
    wrong = [Candidate("x\n", False, 1, 0.0), Candidate("y\n", False, 2, 0.0)]
    for rule in ("right_short", "right", "all"):
        assert select(wrong, rule) == []  # a problem with no right solution gives nothing, even to `all`


def test_a_chain_that_missed_its_target_is_right_for_the_training_targets_it_reached():
    task = make_task("countdown")
    assert {15, 26} <= task.heldout_targets and not {24, 43, 86} & task.heldout_targets
    p = task.make_problem((12, 3, 9, 50), 1000, "p")
    chain = "12+3=15 [9 50 15]\n15+9=24 [50 24]\n50-24=26 [26]\n"  # 15 and 26 are held-out targets
    assert task.hindsight(p, chain) == [(task.make_problem(p.numbers, 24, "p-hindsight-24"), chain[:chain.index("50-")])]
    q = task.make_problem((40, 3, 43, 50), 1000, "q")
    chain = "40+3=43 [43 50 43]\n43+43=86 [50 86]\n86*2=172\n"  # 43 is a given number; 172 out of range
    assert task.hindsight(q, chain) == [(task.make_problem(q.numbers, 86, "q-hindsight-86"), chain[:chain.index("86*")])]
    assert task.check(task.make_problem(q.numbers, 86, "r"), chain[:chain.index("86*")])
    assert task.hindsight(q, "43+43=86 [40 3 50 86]\n") == []  # one 43 given: the rules refuse the step


def test_relabelling_keeps_distinct_other_targets_at_their_shortest_prefix():
    task = make_task("countdown")
    assert not {27, 80} & task.heldout_targets
    p = task.make_problem((20, 5, 4, 7), 80, "p")
    long, short = "4*5=20 [20 7 20]\n20+7=27 [20 27]\n", "20+7=27 [5 4 27]\n"
    own = "20*4=80 [5 7 80]\n"  # reaches the problem's own target: kept by the selection rule, not relabelled
    cands = [Candidate(long, False, 9, -1.0), Candidate(short, False, 5, -1.0), Candidate(own, True, 5, -1.0)]
    pairs = relabel(task, [p], [cands], 5, np.random.default_rng(0))
    assert pairs == [(task.make_problem(p.numbers, 27, "x").prompt, short)]
    two = [Candidate("20+5=25 [4 7 25]\n", False, 5, 0.0), Candidate(short, False, 5, 0.0)]
    assert len(relabel(task, [p], [two], 5, np.random.default_rng(0))) == 2
    assert len(relabel(task, [p] * 3, [two] * 3, 1, np.random.default_rng(0))) == 3  # one per problem
    assert relabel(task, [p], [two], 0, np.random.default_rng(0)) == []


def test_the_loss_is_on_the_solution_and_never_on_the_prompt_or_the_rules_results():
    tok = make_tokenizer()
    prompt, solution = "numbers: 25 5 4 7\ntarget: 80\n", "25-5=20 [4 7 20]\n20*4=80 [7 80]\n"
    ids, labels, mask = lm_batch(tok, [(prompt, solution), ("p\n", "x\n")], RULES_WRITE)
    row, lab = ids[0].tolist(), labels[0].tolist()
    learned = tok.decode([t for t, y in zip(row, lab) if y != -100], skip_special_tokens=False)
    # the model's choices, the numbers-left lists (copying) and the end; not the prompt, not the results
    assert learned == "25-5= [4 7 20]\n20*4= [7 80]\n<eos>"
    assert all(y == -100 for y in lab[:1 + len(prompt)])
    assert mask[1].tolist().count(1) == 1 + 2 + 2 + 1 and labels[1].tolist()[:3] == [-100, -100, -100]
    plain = lm_batch(tok, [(prompt, solution)], None)[1][0].tolist()
    assert sum(y != -100 for y in plain) == len(solution) + 1
    ids, labels, _ = lm_batch(tok, [(prompt, solution)], RULES_WRITE, eos=False)  # expert iteration's batches
    assert tok.eos_token_id not in ids[0].tolist() and labels[0].tolist()[-1] != -100


def test_the_auxiliary_result_loss_is_on_the_rules_results_alone_and_adds_at_its_weight():
    import torch

    from training.pretrain import lm_step, rules_labels

    tok = make_tokenizer()
    pairs = [("numbers: 25 5 4 7\ntarget: 80\n", "25-5=20 [4 7 20]\n20*4=80 [7 80]\n"), ("p\n", "3+4=7 [7]\n")]
    batch = lm_batch(tok, pairs, RULES_WRITE, eos=False)
    extra = rules_labels(tok, pairs, RULES_WRITE)
    assert extra.shape == batch[1].shape and rules_labels(tok, pairs, None) is None
    for row, lab in zip(batch[0].tolist(), extra.tolist()):
        assert tok.decode([t for t, y in zip(row, lab) if y != -100]) in ("2080", "7")  # the results, nothing else
    model = make_model(tok, "tiny", seed=3)
    with torch.no_grad():
        logits = model(input_ids=batch[0], attention_mask=batch[2]).logits[:, :-1].float()
    by_hand = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), extra[:, 1:].reshape(-1),
                                                ignore_index=-100)
    still = torch.optim.SGD(model.parameters(), lr=0.0)
    plain = lm_step(model, still, batch, "cpu")
    assert lm_step(model, still, batch, "cpu", extra, 0.5) == pytest.approx(plain + 0.5 * float(by_hand), rel=1e-5)


def test_the_problem_stream_is_a_function_of_its_position(tmp_path):
    task = make_task("countdown")
    a = [p.id for p in problem_batch(task, 3, 5, 4)]
    assert a == [p.id for p in problem_batch(task, 3, 5, 4)] and a != [p.id for p in problem_batch(task, 3, 6, 4)]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": "?", "answer": str(i)}) + "\n" for i in range(5)))
    ftask = make_task(str(path))
    ids = [p.id for k in range(5) for p in problem_batch(ftask, 0, k, 2)]  # two passes over five rows
    assert sorted(ids[:5]) == [f"q{i}" for i in range(5)] and sorted(ids[5:10]) == [f"q{i}" for i in range(5)]


def train(run_dir, init, *extra):
    return [sys.executable, "-m", "engine.cli", "train", "countdown", "--run-dir", str(run_dir), "--init", str(init),
            "iterations=4", "problems_per_iteration=6", "samples=3", "select=all", "eval_problems=8", "eval_every=2",
            "eval_budget=40", "steps_per_iteration=2", "batch_size=4", *extra]


def test_a_run_killed_mid_iteration_resumes_with_nothing_lost_or_repeated(tmp_path):
    from transformers import AutoModelForCausalLM

    init = tmp_path / "init"
    tok = make_tokenizer()
    save(make_model(tok, "tiny", seed=2), tok, str(init))
    run = tmp_path / "run"
    proc = subprocess.Popen(train(run, init), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            time.sleep(1.0)  # into the next iteration
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(train(run, init, "--resume"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]  # no gap, no duplicate
    task = make_task("countdown")
    assert [r["first_problem"] for r in rows] == [problem_batch(task, 0, k, 6)[0].id for k in range(4)]
    assert rows[-1]["vote8_solve_rate"] is not None and rows[0].get("vote8_solve_rate") is None
    for name in os.listdir(run / "checkpoints"):
        assert type(AutoModelForCausalLM.from_pretrained(run / "checkpoints" / name)).__name__ == "LlamaForCausalLM"
        assert (run / "checkpoints" / name / "value_head.safetensors").exists()
    assert rows[-1]["value_loss"] is not None
    for link in ("latest", "best", "model"):
        assert (run / link).is_symlink() and (run / link / "config.json").exists()
    assert os.path.realpath(run / "latest").endswith("iter-000004")
    again = subprocess.run(train(run, init), capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "pass --resume" in again.stderr


def test_grpo_moves_probability_toward_the_better_samples_of_a_group():
    import torch

    from engine.llm.local import LocalPolicy
    from training.grpo import RULES_TEXT, group_advantages, grpo_steps

    assert group_advantages([1, 1, 1]).tolist() == [0, 0, 0]  # no signal in an all-equal group
    adv = group_advantages([1, 0, 0, 0])
    assert adv[0] > 0 > adv[1] and adv.sum() == pytest.approx(0)
    tok = make_tokenizer()
    torch.manual_seed(0)
    model = make_model(tok, "tiny", seed=5)
    policy = LocalPolicy.from_model(model, tok)
    prompt = "numbers: 25 5 4 7\ntarget: 80\n"
    good, bad = "25-5=20 [4 7 20]\n20*4=80 [7 80]\n", "4+7=11 [25 5 11]\n"
    before = policy.score([prompt, prompt], ["25-5=", "4+7="])  # the first choice of each: the model's own tokens
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):
        grpo_steps(model, tok, optimizer, [[(prompt, good, 1.0), (prompt, bad, 0.0)]], 8, RULES_TEXT, policy.device)
    after = policy.score([prompt, prompt], ["25-5=", "4+7="])
    assert after[0] > before[0] and after[1] < before[1]
    frozen = [p.detach().clone() for p in model.parameters()]
    grpo_steps(model, tok, optimizer, [[(prompt, good, 1.0), (prompt, bad, 1.0)]], 8, RULES_TEXT, policy.device)
    assert all(torch.equal(a, b) for a, b in zip(frozen, model.parameters()))  # equal rewards: nothing moves


def test_grpo_pushes_down_the_last_choice_of_a_wrong_sample_a_stop_or_a_refused_step():
    """A wrong sample's last choice, which is not in its solution text (the end-of-text token it
    stopped with, or the step the rules refused), takes the sample's negative advantage too:
    without that, stopping early was never pushed down and GRPO collapsed to one-step answers."""
    import torch

    from engine.llm.local import LocalPolicy
    from training.grpo import RULES_TEXT, Sample, grpo_steps

    tok = make_tokenizer()
    prompt = "numbers: 25 5 4 7\ntarget: 80\n"
    first = "25-5=20 [4 7 20]\n"
    right = first + "20*4=80 [7 80]\n"

    def after_update(with_last_choices: bool) -> tuple[float, float]:
        model = make_model(tok, "tiny", seed=5)
        policy = LocalPolicy.from_model(model, tok)
        group = [Sample(prompt, right, 1.0),
                 Sample(prompt, first, 0.0, stopped=with_last_choices),
                 Sample(prompt, "4+7=11 [25 5 11]\n" + ("11*11=" if with_last_choices else ""), 0.0)]
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        for _ in range(3):
            grpo_steps(model, tok, optimizer, [group], 8, RULES_TEXT, policy.device)
        with torch.no_grad():
            ids = torch.tensor([policy.encode(prompt + first)])
            stop = float(torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), -1)[tok.eos_token_id])
        return stop, policy.score([prompt + "4+7=11 [25 5 11]\n"], ["11*11="])[0]

    stop_on, refused_on = after_update(True)
    stop_off, refused_off = after_update(False)
    assert stop_on < stop_off - 0.01  # the wrong stop after one step is made less likely
    assert refused_on < refused_off - 0.01  # and so is the refused step


def test_lm_batch_puts_end_of_text_on_the_rows_that_ask_for_it():
    tok = make_tokenizer()
    ids, labels, _ = lm_batch(tok, [("p\n", "1+2=3 [3]\n"), ("p\n", "4\n")], RULES_WRITE, eos=[False, True])
    ends = [[int(x) for x in row if x != -100][-1] for row in labels]
    assert ends[0] != tok.eos_token_id and ends[1] == tok.eos_token_id


def test_rollouts_say_how_the_model_ended_each_sample_and_grpo_groups_put_it_back():
    from mcts.rollout import rollouts, step_seed
    from tests.fake_policy import FakePolicy

    task = make_task("countdown")
    problems = task.problems("heldout", 6, seed=3)
    policy = FakePolicy(junk=0.3, end=0.3)
    outs = rollouts(task, problems, policy, 4, 1.0, seed=9)
    stopped = refused = 0
    for p, rs in zip(problems, outs):
        for j, r in enumerate(rs):
            if r.stopped or not r.legal:  # the choice that ended it never entered the text (an end is counted)
                last = policy.step(p.prompt + r.text, step_seed(9, p.id, j, r.steps - r.stopped), 0).text
                assert r.stopped == (last == "") and r.answer is None
                assert r.rejected == (None if r.legal else last)
            else:
                assert r.rejected is None and r.text and r.text.endswith("]\n")  # a step the rules ended it with
            stopped, refused = stopped + r.stopped, refused + (not r.legal)
    assert stopped and refused
    cands = [[Candidate(r.text, task.check_answer(p, r.answer), r.tokens, r.logprob, r.rejected or "", r.stopped)
              for r in rs] for p, rs in zip(problems, outs)]
    groups = grpo_groups(task, problems, cands)
    for p, cs, group in zip(problems, cands, groups):
        for c, x in zip(cs, group):
            assert x.prompt == p.prompt and x.stopped == c.stopped and x.reward == task.reward(p, c.text)
            assert x.solution == c.text + c.refused and (c.refused == "" or x.solution != c.text)


def test_each_learner_gets_its_own_learning_rate_unless_one_is_given():
    from training.expert import LEARNING_RATES, ExpertConfig

    assert ExpertConfig().learning_rate == LEARNING_RATES["expert"]
    assert ExpertConfig(learner="grpo").learning_rate == LEARNING_RATES["grpo"] < LEARNING_RATES["expert"]
    assert ExpertConfig(learner="grpo", learning_rate=1e-3).learning_rate == 1e-3
    with pytest.raises(ValueError, match="learning_rate must be above 0"):
        ExpertConfig(learning_rate=-1e-4)
