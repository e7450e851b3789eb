"""The local language-model backend (`builtin:DIR`, `hf:DIR`) on models made in the test: the
built-in architecture and a randomly initialised Qwen2 with a BPE tokenizer trained here. Step
log-probabilities equal a direct forward pass, a problem's samples are the same alone and in a
batch of 16, every generated token is charged, and the directories load with transformers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from engine.llm.hfdir import make_model, make_tokenizer, save
from engine.llm.policy import PolicyError
from engine.llm.solve import solve
from engine.llm.specs import make_policy
from games.math import make_task


@pytest.fixture(scope="module")
def builtin_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("builtin") / "model"
    tok = make_tokenizer()
    save(make_model(tok, "tiny", seed=1), tok, str(d))
    return str(d)


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    """A stock architecture other than ours, with a multi-character BPE tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    corpus = [t.problems("train", 200, 0)[i].prompt + "25-5=20\n20*4=80\n" for t in [make_task("countdown")]
              for i in range(200)]
    core.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<unk>")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    d = tmp_path_factory.mktemp("qwen") / "model"
    save(Qwen2ForCausalLM(config), tok, str(d))
    return str(d)


def direct_logprob(policy, prefix: str, tail: list[int]) -> float:
    """log p(tail | prefix) from one plain forward pass over the concatenated token ids."""
    head = policy.encode(prefix)
    ids = torch.tensor([head + list(tail)])
    with torch.no_grad():
        logp = torch.log_softmax(policy.model(input_ids=ids).logits.float()[0, :-1], -1)
    return float(sum(logp[len(head) - 1 + i, t] for i, t in enumerate(tail)))


@pytest.mark.parametrize("which", ["builtin", "qwen"])
def test_step_logprobs_equal_a_direct_forward_pass(which, builtin_dir, qwen_dir):
    policy = make_policy(f"builtin:{builtin_dir}" if which == "builtin" else f"hf:{qwen_dir}")
    prefixes = ["numbers: 25 5 4 7\ntarget: 80\n", "numbers: 3 9\ntarget: 27\n25-"]
    out = policy.propose(prefixes, 4, ("=", "\n"), [11, 12], max_tokens=12)
    checked = 0
    for prefix, cands in zip(prefixes, out):
        assert len(cands.proposals) == 4 and cands.prompt_tokens == len(policy.encode(prefix))
        for p in cands.proposals:
            assert p.tokens == len(p.ids) > 0
            assert p.logprob == pytest.approx(direct_logprob(policy, prefix, p.ids), abs=1e-4)
            if p.text:  # score() reads the text in its own tokens, which sampling need not have used
                own = policy.tokenizer(p.text, add_special_tokens=False)["input_ids"]
                assert policy.score([prefix], [p.text])[0] == pytest.approx(direct_logprob(policy, prefix, own),
                                                                            abs=1e-4)
                checked += 1
    assert checked >= 4


@pytest.mark.parametrize("which", ["builtin", "qwen"])
def test_a_problems_samples_are_the_same_alone_and_in_a_batch_of_16(which, builtin_dir, qwen_dir):
    spec = f"builtin:{builtin_dir}" if which == "builtin" else f"hf:{qwen_dir}"
    policy = make_policy(spec)
    problems = make_task("countdown").problems("heldout", 16, 0)
    prefixes = [p.prompt for p in problems]
    batched = policy.propose(prefixes, 3, ("=", "\n"), list(range(100, 116)), max_tokens=12)
    alone = policy.propose(prefixes[5:6], 3, ("=", "\n"), [105], max_tokens=12)[0]
    assert [p.text for p in alone.proposals] == [p.text for p in batched[5].proposals]
    for a, b in zip(alone.proposals, batched[5].proposals):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.tokens == b.tokens
    assert len({p.text for c in batched for p in c.proposals}) > 8  # seeds differ across problems


def reference_sample(policy, prefix: str, seed: int, j: int, stop: str, max_tokens: int) -> list[int]:
    """One sample drawn the plain way: no cache, no batch, a full forward pass per token, the
    same per-sample generator and Gumbel-max rule."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + j)
    ids, out = policy.encode(prefix), []
    with torch.no_grad():
        for _ in range(max_tokens):
            logp = torch.log_softmax(policy.model(input_ids=torch.tensor([ids + out])).logits.float()[0, -1], -1)
            gumbel = -torch.log(-torch.log(torch.rand(logp.shape[0], generator=g).clamp(1e-20, 1.0 - 1e-7)))
            out.append(int((logp + gumbel).argmax()))
            if out[-1] == policy.eos or stop in policy.tokenizer.decode(out):
                break
    return out


def test_batched_sampling_with_finished_rows_dropped_equals_plain_sampling(builtin_dir):
    """Rows end at different lengths, so the batch shrinks mid-generation; every sample must
    still be the one a plain, cache-free loop draws with its generator."""
    policy = make_policy(f"builtin:{builtin_dir}")
    prefixes = [p.prompt for p in make_task("countdown").problems("heldout", 2, 0)]
    got = policy.propose(prefixes, 12, ("\n",), [7, 8], max_tokens=40)
    lengths = {p.tokens for c in got for p in c.proposals}
    assert min(lengths) < 20 and max(lengths) == 40  # rows did end while others went on
    for prefix, seed, cands in zip(prefixes, [7, 8], got):
        for j, p in enumerate(cands.proposals):
            assert list(p.ids) == reference_sample(policy, prefix, seed, j, "\n", 40)


def test_solving_charges_every_token_and_is_batch_independent(builtin_dir):
    task = make_task("countdown")
    problems = task.problems("heldout", 6, 0)
    policy = make_policy(f"builtin:{builtin_dir}")
    results = solve(task, problems, policy, "sample:3", seed=4)
    assert sum(r.tokens for r in results) == policy.usage.generated
    assert sum(r.prompt_tokens for r in results) == policy.usage.prompt
    again = solve(task, problems[2:3], make_policy(f"builtin:{builtin_dir}"), "sample:3", seed=4)[0]
    assert [s.text for s in again.samples] == [s.text for s in results[2].samples]
    assert (again.tokens, again.prompt_tokens) == (results[2].tokens, results[2].prompt_tokens)


def test_model_directories_load_with_transformers(builtin_dir, qwen_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for d, arch in ((builtin_dir, "LlamaForCausalLM"), (qwen_dir, "Qwen2ForCausalLM")):
        assert type(AutoModelForCausalLM.from_pretrained(d)).__name__ == arch
        tok = AutoTokenizer.from_pretrained(d)
        assert tok.decode(tok("numbers: 1 2\n", add_special_tokens=False)["input_ids"]) == "numbers: 1 2\n"


def test_bad_policy_specs_are_one_sentence(tmp_path, builtin_dir):
    for spec, fragment in [("gpt5", "unknown policy"), ("hf:", "needs a model directory"),
                           (f"hf:{tmp_path}", "holds no Hugging Face"), (f"builtin:{tmp_path}", "holds no built-in")]:
        with pytest.raises(PolicyError, match=fragment):
            make_policy(spec, "countdown")


def reason(*args, env=None):
    return subprocess.run([sys.executable, "-m", "engine.cli", "reason", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_reason_cli_json_and_errors(builtin_dir, tmp_path):
    proc = reason("countdown", "--policy", f"builtin:{builtin_dir}", "--method", "vote:2", "--problems", "4",
                  "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(lines) == 5 and lines[-1]["summary"] and lines[-1]["problems"] == 4
    for row in lines[:4]:
        assert {"id", "answer", "solution", "correct", "tokens", "prompt_tokens"} <= set(row) and row["tokens"] > 0
    assert lines[-1]["tokens_per_problem"] == pytest.approx(sum(r["tokens"] for r in lines[:4]) / 4)
    for args, fragment in [(["nosuch"], "unknown task"), (["countdown", "--method", "beam"], "unknown method"),
                           (["arith", "--method", "sample:4", "--policy", f"builtin:{builtin_dir}", "--problems", "1"],
                            "use vote:N"),
                           (["countdown", "--policy", "hf:/nonexistent"], "holds no Hugging Face"),
                           ([str(tmp_path / "missing.jsonl")], "cannot read problem file")]:
        proc = reason(*args)
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_value_head_side_file_is_loaded_and_the_directory_stays_standard(builtin_dir, tmp_path):
    import shutil

    from transformers import AutoModelForCausalLM

    from engine.llm.value import FILE, ValueHead, save_value_head

    d = tmp_path / "with_head"
    shutil.copytree(builtin_dir, d)
    assert make_policy(f"hf:{d}").value_head is None and make_policy(f"hf:{d}").value(["x"]) is None
    head = ValueHead(64)
    with torch.no_grad():
        head.linear.bias.fill_(0.5)
    save_value_head(head, str(d))
    policy = make_policy(f"hf:{d}")
    assert (d / FILE).exists() and policy.value(["numbers: 1 2\n", "x"]).tolist() == pytest.approx([0.4621] * 2, abs=1e-4)
    assert type(AutoModelForCausalLM.from_pretrained(d)).__name__ == "LlamaForCausalLM"  # ignored by transformers
