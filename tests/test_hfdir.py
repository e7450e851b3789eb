"""Model directories survive a save killed at any point: the next save starts clean, and readers
find the last complete model meanwhile."""

from __future__ import annotations

import os

import pytest

from engine.llm.hfdir import is_model_dir, make_model, make_tokenizer, save
from engine.llm.specs import model_dir


@pytest.fixture(scope="module")
def tiny():
    tokenizer = make_tokenizer()
    return make_model(tokenizer, size="tiny", max_length=32), tokenizer


def test_a_save_after_one_killed_before_its_cleanup_replaces_the_model(tmp_path, tiny):
    model, tokenizer = tiny
    run = tmp_path / "run"
    target = str(run / "model")
    save(model, tokenizer, target)
    save(model, tokenizer, target + ".old")  # killed after its renames, before removing .old
    os.makedirs(target + ".tmp")  # and a later one killed while writing
    (run / "model.tmp" / "stale.bin").write_bytes(b"partial")
    save(model, tokenizer, target)
    assert is_model_dir(target)
    assert sorted(os.listdir(run)) == ["model"]
    assert "stale.bin" not in os.listdir(target)


def test_a_save_killed_between_its_renames_leaves_the_last_model_readable(tmp_path, tiny):
    model, tokenizer = tiny
    run = tmp_path / "run"
    save(model, tokenizer, str(run / "model.old"))  # the old model moved aside, the new one not yet in
    assert model_dir(str(run)) == str(run / "model.old")
    save(model, tokenizer, str(run / "model"))
    assert model_dir(str(run)) == str(run / "model")
    assert sorted(os.listdir(run)) == ["model"]
