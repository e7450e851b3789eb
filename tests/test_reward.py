"""Reward models from preferences: the Bradley-Terry loss and pair accuracy against values
worked by hand, the preference file format and its errors, an ensemble trained from a JSONL file
that ranks held-out pairs, and the wall between the hidden gold scorer and everything that learns."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.llm.hfdir import make_model, make_tokenizer, save
from training.preferences import PreferenceError, read_preferences, write_preferences
from training.reward import RewardConfig, RewardEnsemble, RewardTrainer, bradley_terry_loss, pair_accuracy

ROOT = Path(__file__).resolve().parents[1]


def test_bradley_terry_loss_matches_the_hand_computed_value():
    chosen, rejected = torch.tensor([1.0, 0.0, 2.5]), torch.tensor([0.0, 2.0, 2.5])
    # -log sigmoid(1) = log(1 + e^-1) = 0.313262; -log sigmoid(-2) = log(1 + e^2) = 2.126928; -log sigmoid(0) = log 2
    expected = (0.3132617 + 2.1269280 + math.log(2)) / 3
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(expected, abs=1e-6)
    # its gradient pushes the chosen reward up by sigmoid(rejected - chosen) / n
    c = chosen.clone().requires_grad_()
    bradley_terry_loss(c, rejected).backward()
    assert c.grad.tolist() == pytest.approx([-(1 / (1 + math.e)) / 3, -(1 / (1 + math.e ** -2)) / 3, -0.5 / 3], abs=1e-6)


def test_pair_accuracy_counts_ties_as_half():
    assert pair_accuracy(np.array([1.0, 0.0, 3.0, 5.0]), np.array([0.0, 2.0, 3.0, 4.0])) == pytest.approx(2.5 / 4)


def test_a_preference_file_round_trips(tmp_path):
    rows = [{"prompt": "review: cafe\n", "chosen": "great cake.\n", "rejected": "bland cake.\n"}]
    path = tmp_path / "p.jsonl"
    write_preferences(str(path), rows)
    pair = read_preferences(str(path))[0]
    assert (pair.prompt, pair.chosen, pair.rejected) == ("review: cafe\n", "great cake.\n", "bland cake.\n")


@pytest.mark.parametrize("text, words", [
    ('{"prompt": "p", "chosen": "a"}\n', "line 1: rejected missing"),
    ('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a", "rejected": 3}\n',
     "line 2: rejected missing or not a string"),
    ("not json\n", "line 1: not JSON"),
    ('["p", "a", "b"]\n', "line 1: expected an object"),
    ("\n\n", "no preference pairs"),
])
def test_a_malformed_preference_file_is_refused_with_one_sentence(tmp_path, text, words):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(PreferenceError, match=words):
        read_preferences(str(path))
    out = subprocess.run([sys.executable, "-m", "engine.cli", "reward", str(path), "--init", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory):
    path = tmp_path_factory.mktemp("init") / "model"
    tok = make_tokenizer()
    save(make_model(tok, "tiny", seed=3), tok, str(path))
    return path


def synthetic_pairs(n: int, seed: int) -> list[dict]:
    """People who like "great" and dislike "bland": a rule a reward model can learn in seconds."""
    rng = np.random.default_rng(seed)
    nouns = ["cake", "coffee", "room", "film", "bread", "view"]
    rows = []
    for _ in range(n):
        a, b = rng.choice(nouns, 2)
        rows.append({"prompt": "review: cafe\n", "chosen": f"the {a} was great.\n", "rejected": f"the {b} was bland.\n"})
    return rows


def test_an_ensemble_trained_from_a_jsonl_file_ranks_held_out_pairs(tmp_path, tiny_init):
    path = tmp_path / "pairs.jsonl"
    write_preferences(str(path), synthetic_pairs(160, 0))
    out = subprocess.run([sys.executable, "-m", "engine.cli", "reward", str(path), "--init", str(tiny_init),
                          "--run-dir", str(tmp_path / "rm"), "members=2", "epochs=3", "batch_size=16",
                          "learning_rate=1e-3"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    info = json.loads((tmp_path / "rm" / "reward.json").read_text())
    assert info["members"] == 2 and info["ensemble_accuracy"] >= 0.9
    assert "held-out pair accuracy" in out.stdout
    from transformers import AutoModelForSequenceClassification

    member = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm" / "members" / "0")
    assert type(member).__name__ == "LlamaForSequenceClassification" and member.config.num_labels == 1
    ens = RewardEnsemble(str(tmp_path / "rm"))
    scores = ens.scores(["review: hotel\n"] * 2, ["the bed was great.\n", "the bed was bland.\n"])
    assert scores.shape == (2, 2) and (scores[:, 0] > scores[:, 1]).all()  # every member ranks them as people do
    again = subprocess.run([sys.executable, "-m", "engine.cli", "reward", str(path), "--init", str(tiny_init),
                            "--run-dir", str(tmp_path / "rm")], capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 2 and "pass --resume" in again.stderr


def test_a_killed_reward_run_resumes_at_the_unfinished_member(tmp_path, tiny_init):
    from training.preferences import Pair

    pairs = [Pair(**r) for r in synthetic_pairs(40, 1)]
    cfg = RewardConfig(members=2, epochs=1, batch_size=16)
    RewardTrainer(pairs, str(tmp_path / "a"), str(tiny_init), cfg).run()
    # as if killed in member 1: member 0 finished and recorded, member 1 half-logged
    run = tmp_path / "b"
    trainer = RewardTrainer(pairs, str(run), str(tiny_init), RewardConfig(members=1, epochs=1, batch_size=16))
    trainer.run()
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"member": 1, "step": 10, "loss": 0.5}) + "\n")
    (run / "reward.json").unlink()
    (run / "config.json").write_text(json.dumps({"members": 2}))
    resumed = RewardTrainer(pairs, str(run), str(tiny_init), cfg, resume=True)
    info = resumed.run()
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["member"], r["step"], "loss" in r) for r in rows]
    assert all(r.get("loss") != 0.5 for r in rows) and len(keys) == len(set(keys))  # the cut-off lines are gone
    assert [r["member"] for r in rows] == sorted(r["member"] for r in rows)
    assert info["members"] == 2
    ref = json.loads((tmp_path / "a" / "reward.json").read_text())
    assert np.ravel(info["normalisation"]) == pytest.approx(np.ravel(ref["normalisation"]), rel=1e-4)  # same as the run never killed


LEARNERS = ["training.reward", "training.rlhf", "training.guard", "training.preferences", "training.overopt",
            "training.grpo"]


@pytest.mark.parametrize("module", LEARNERS)
def test_the_reward_model_and_optimisers_never_import_the_hidden_gold_scorer(module):
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
            imported |= {f"{node.module}.{a.name}" for a in node.names}
    assert not any("people" in name for name in imported), imported
    code = f"import sys, {module}; print(any('people' in m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_scores_in_length_sorted_batches_come_back_in_the_order_given(tiny_init):
    """Rows are batched by length to save padding; each row's score must still be the one it gets
    scored alone, at its own position."""
    from training.reward import load_member, raw_scores

    model, tokenizer = load_member(str(tiny_init), "cpu")
    outputs = ["the bed was great. the staff were kind. the view was lovely.\n", "ok.\n", "the bed was bland.\n",
               "i loved the pool.\n", "the food was cold. the room was small.\n"]
    prompts = ["review: hotel\n"] * len(outputs)
    with torch.no_grad():
        together = raw_scores(model, tokenizer, prompts, outputs, batch=2).numpy()
        alone = np.array([raw_scores(model, tokenizer, [p], [o]).item() for p, o in zip(prompts, outputs)])
    assert len(set(np.round(alone, 4))) == len(alone)  # distinct, so an order mix-up would show
    assert together == pytest.approx(alone, abs=1e-4)
