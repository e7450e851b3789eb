"""The RLHF half: the reviews task and its hidden people, the over-optimisation measures
(best-of-n estimator, Gao et al.'s fits), the guard's stopping rule, and a run optimising against
a reward model, killed with SIGKILL and resumed with nothing lost or repeated."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from games.math import make_task
from games.text.people import gold_score, label_pairs, preference_probability
from games.text.reviews import corpus_review, parse
from training.guard import Guard, GuardConfig
from training.overopt import best_of_n, bon_kl, fit_bon, fit_rl

ROOT = Path(__file__).resolve().parents[1]


def test_the_grammar_reads_back_every_corpus_review_and_refuses_nonsense():
    rng = np.random.default_rng(0)
    for _ in range(500):
        review = corpus_review(rng, "cafe")
        assert review.endswith(".\n") and None not in parse(review)
    assert parse("the the the the.") == [None]
    s = parse("the coffee was very great. i hated the staff. fine cake.")
    assert [(x.noun, x.sentiment) for x in s] == [("coffee", 1), ("staff", -1), ("cake", 0)]


def test_prompts_are_seeded_and_held_out_places_stay_out_of_training():
    task = make_task("reviews")
    assert [p.prompt for p in task.problems("train", 20, 3)] == [p.prompt for p in task.problems("train", 20, 3)]
    train = {p.meta["place"] for p in task.problems("train", 300, 0)}
    heldout = {p.meta["place"] for p in task.problems("heldout", 100, 0)}
    assert heldout == {"bakery", "pool"} and not train & heldout


def test_gold_scores_worked_by_hand():
    cafe = make_task("reviews").problems("train", 50, 0)
    p = next(q for q in cafe if q.meta["place"] == "cafe")
    assert gold_score(p, "the coffee was great. i loved the staff. fresh cake.\n") == 3.0
    assert gold_score(p, "the coffee was great. the coffee was great.\n") == pytest.approx(1 - 2)  # a repeat costs 2
    assert gold_score(p, "great coffee. great cake. great staff. great music.\n") == pytest.approx(4 - 1.5)
    assert gold_score(p, "great books.\n") == pytest.approx(1 / 3)  # another place's thing
    assert gold_score(p, "great great great great\n") == -2.0 and gold_score(p, "") == -2.0


def test_preference_labels_follow_bradley_terry_and_the_noise_ceiling_is_their_expected_accuracy():
    assert preference_probability(1.0, 0.0) == pytest.approx(1 / (1 + math.e ** -1))
    task = make_task("reviews")
    problems = [next(q for q in task.problems("train", 50, 0) if q.meta["place"] == "cafe")] * 4000
    good, bad = "great coffee.\n", "bland coffee.\n"  # gold +1 and -1: chosen with probability sigmoid(2)
    rows, ceiling = label_pairs(problems, [good] * 4000, [bad] * 4000, seed=0)
    share = np.mean([r["chosen"] == good for r in rows])
    assert ceiling == pytest.approx(1 / (1 + math.e ** -2)) and abs(share - ceiling) < 0.02
    assert rows == label_pairs(problems, [good] * 4000, [bad] * 4000, seed=0)[0]


def test_best_of_n_estimator_equals_the_average_over_every_subset():
    rng = np.random.default_rng(1)
    proxy, value = rng.normal(size=7), rng.normal(size=7)
    for n in range(1, 8):
        subsets = list(itertools.combinations(range(7), n))
        brute = np.mean([value[list(c)][np.argmax(proxy[list(c)])] for c in subsets])
        assert best_of_n(proxy, value, n) == pytest.approx(brute)
    assert bon_kl(1) == 0.0 and bon_kl(4) == pytest.approx(math.log(4) - 0.75)


def test_the_functional_forms_are_recovered_from_their_own_curves():
    d = np.linspace(0.1, 3, 30)
    assert fit_bon(d, d * (1.3 - 0.4 * d)) == pytest.approx((1.3, 0.4))
    assert fit_rl(d, d * (0.9 - 0.7 * np.log(d))) == pytest.approx((0.9, 0.7))


def test_the_guard_keeps_the_best_conservative_checkpoint_and_stops_after_its_patience():
    g = Guard(GuardConfig(patience=2, uncertainty=1.0, kl_budget=100, disagreement_rise=10.0))
    # held-out reward rises, then the members start to disagree more than it rises
    steps = [(0, 0.0, 0.5), (10, 0.5, 0.5), (20, 1.0, 0.6), (30, 1.3, 1.2), (40, 1.5, 1.6), (50, 2.0, 2.5)]
    seen = [g.update(s, h, dis, kl=1.0) for s, h, dis in steps]
    assert [b for b, _ in seen] == [True, True, True, False, False, False]
    assert g.best_step == 20 and g.stop_step == 40 and "not improved in 2" in g.reason
    restored = Guard(GuardConfig(patience=2))
    restored.load(g.state())
    assert restored.state() == g.state()


def test_the_guard_stops_when_the_reward_models_start_to_disagree_and_keeps_nothing_it_flagged():
    g = Guard(GuardConfig(patience=5, uncertainty=0.0, kl_budget=100, disagreement_rise=0.15))
    # disagreement falls to 0.40, then rises: 0.45 is 12.5% above it (fine), 0.47 is 17.5% (stop)
    steps = [(0, 0.0, 0.50), (5, 0.5, 0.40), (10, 0.8, 0.45), (15, 1.2, 0.47), (20, 1.5, 0.40)]
    seen = [g.update(s, h, dis, kl=1.0) for s, h, dis in steps]
    assert [b for b, _ in seen] == [True, True, True, False, False]
    assert g.stop_step == 15 and g.best_step == 10 and "17% above its lowest (0.40)" in g.reason


def test_the_guard_keeps_nothing_past_the_kl_budget():
    kl = Guard(GuardConfig(patience=5, kl_budget=3.0))
    assert kl.update(0, 0.0, 0.5, 0.5) == (True, None)
    best, reason = kl.update(10, 1.0, 0.5, 3.5)
    assert not best and "KL 3.5 past the budget" in reason and kl.stop_step == 10 and kl.best_step == 0


def rlhf(run_dir, init, reward, *extra):
    return [sys.executable, "-m", "engine.cli", "train", "reviews", "--run-dir", str(run_dir), "--init", str(init),
            "--reward", str(reward), "steps=6", "prompts_per_step=3", "samples=3", "eval_every=2", "eval_prompts=3",
            "eval_samples=2", "batch_size=8", "stop=false", *extra]


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    from engine.llm.hfdir import make_model, make_tokenizer, save
    from training.preferences import Pair
    from training.reward import RewardConfig, RewardTrainer

    root = tmp_path_factory.mktemp("rlhf")
    tok = make_tokenizer()
    save(make_model(tok, "tiny", seed=4), tok, str(root / "init"))
    rng = np.random.default_rng(0)
    pairs = [Pair("review: cafe\n", corpus_review(rng, "cafe"), corpus_review(rng, "cafe")) for _ in range(24)]
    RewardTrainer(pairs, str(root / "rm"), str(root / "init"), RewardConfig(members=2, epochs=1, batch_size=12)).run()
    return root


def test_an_rlhf_run_killed_mid_step_resumes_with_nothing_lost_or_repeated(tmp_path, tiny_setup):
    from transformers import AutoModelForCausalLM

    run = tmp_path / "run"
    cmd = rlhf(run, tiny_setup / "init", tiny_setup / "rm")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 4:  # past the step-2 checkpoint
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(7))  # no gap, no duplicate
    for r in rows[1:]:  # every step logs the proxy reward, KL and the monitored gold
        assert {"proxy_reward", "kl", "gold_reward", "sample"} <= set(r) and r["sample"].startswith("review: ")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("gold_reward")] == list(range(1, 7))
    assert [e.step for e in events.Scalars("eval_heldout_reward")] == [0, 2, 4, 6]
    evals = [r for r in rows if "eval_gold_reward" in r]
    assert [r["step"] for r in evals] == [0, 2, 4, 6] and evals[0]["eval_kl"] == pytest.approx(0.0, abs=1e-4)
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert sorted({s["step"] for s in samples}) == list(range(7)) and all("output" in s for s in samples)
    for link in ("latest", "best", "model"):
        assert (run / link).is_symlink() and (run / link / "config.json").exists()
    assert os.path.realpath(run / "latest").endswith("step-000006")
    assert type(AutoModelForCausalLM.from_pretrained(run / "latest")).__name__ == "LlamaForCausalLM"
    again = subprocess.run(rlhf(run, tiny_setup / "init", tiny_setup / "rm"), capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    assert again.returncode == 2 and "pass --resume" in again.stderr
    shown = subprocess.run([sys.executable, "-m", "engine.cli", "sample", "reviews", "--policy", f"builtin:{run}",
                            "--reward", str(tiny_setup / "rm"), "--prompts", "2", "--n", "2"],
                           capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("review: ") == 2 and shown.stdout.count("[reward ") == 4


def test_grpo_against_a_reward_model_raises_its_reward(tiny_setup, tmp_path):
    """The optimiser does what it is for: the proxy reward of its samples goes up."""
    from training.rlhf import RLHF, RLHFConfig

    cfg = RLHFConfig(steps=12, prompts_per_step=4, samples=6, eval_every=12, eval_prompts=8, eval_samples=4,
                     learning_rate=3e-3, kl_coef=0.0, batch_size=24, stop=False)
    trainer = RLHF(make_task("reviews"), str(tmp_path / "r"), str(tiny_setup / "init"), str(tiny_setup / "rm"), cfg)
    trainer.run()
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["eval_proxy_reward"] > rows[0]["eval_proxy_reward"] + 0.2
    assert rows[-1]["eval_kl"] > 0.1


def test_train_reviews_without_a_reward_model_says_so():
    out = subprocess.run([sys.executable, "-m", "engine.cli", "train", "reviews", "--init", "/nonexistent"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "pass --reward DIR" in out.stderr and "Traceback" not in out.stderr


def test_expert_iteration_against_a_reward_model_trains_on_the_best_scored_output_of_each_prompt(tiny_setup, tmp_path):
    from training.rlhf import RLHF, RLHFConfig

    cfg = RLHFConfig(learner="expert", steps=2, prompts_per_step=3, samples=4, eval_every=2, eval_prompts=2,
                     eval_samples=2, replay=2, stop=False)
    trainer = RLHF(make_task("reviews"), str(tmp_path / "e"), str(tiny_setup / "init"), str(tiny_setup / "rm"), cfg)
    picked = []
    original = trainer.learn

    def spy(problems, texts, shaped):
        k = cfg.samples
        picked.append([texts[i * k + int(np.argmax(shaped[i * k:(i + 1) * k]))] for i in range(len(problems))])
        return original(problems, texts, shaped)

    trainer.learn = spy
    trainer.run()
    # the replay window holds, per step, each prompt's best-scored output (the empty ones dropped)
    assert [[s for _, s in kept] for kept in trainer.replay] == [[t for t in step if t] for step in picked]
    rows = [json.loads(x) for x in (tmp_path / "e" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2] and all(math.isfinite(r["loss"]) for r in rows[1:])
