"""The `openai:` policy over real HTTP: against `move37 serve` of a tiny built-in model (the same
steps and log-probabilities as in process), and against scripted servers in tests/fake_openai.py
for every fault (500, 429 then success, timeout, malformed JSON, refused connection, no
log-probabilities, no n > 1, no echo) and for hostile final answers."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from engine.llm.hfdir import make_model, make_tokenizer, save
from engine.llm.policy import PolicyError
from engine.llm.specs import make_policy
from games.math import make_task
from tests.fake_openai import FakeServer, choice, completion
from tests.test_math_checkers import hostile

STOP = ("=", "\n")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("served") / "model"
    tok = make_tokenizer()
    save(make_model(tok, "tiny", seed=3), tok, str(d))
    return str(d)


@pytest.fixture(scope="module")
def server(model_dir):
    """`move37 serve` on a free loopback port: yields its /v1 address."""
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", model_dir, "--port", "0", "--name", "tiny"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    yield match.group(0)
    proc.terminate()
    proc.wait(timeout=30)


def test_greedy_steps_and_scores_equal_the_in_process_backend(server, model_dir):
    local = make_policy(f"hf:{model_dir}")
    remote = make_policy(f"openai:{server}")
    assert remote.model == "tiny"
    prefixes = [p.prompt for p in make_task("countdown").problems("heldout", 5, 0)]
    near = local.propose(prefixes, 1, STOP, [0] * 5, temperature=0.0, max_tokens=12)
    far = remote.propose(prefixes, 1, STOP, [0] * 5, temperature=0.0, max_tokens=12)
    for a, b in zip(near, far):
        (pa,), (pb,) = a.proposals, b.proposals
        assert pa.text == pb.text and pa.tokens == pb.tokens
        assert pb.logprob == pytest.approx(pa.logprob, abs=1e-4)
        assert b.prompt_tokens == a.prompt_tokens
    continuations = ["25-5=", "7*3=21 [1 2 21]\n", "x"] + ["1+1="] * 2
    assert remote.score(prefixes, continuations) == pytest.approx(local.score(prefixes, continuations), abs=1e-4)
    assert remote.usage.generated == local.usage.generated > 0


def test_seeded_samples_have_the_log_probabilities_of_their_texts(server, model_dir):
    local = make_policy(f"hf:{model_dir}")
    remote = make_policy(f"openai:{server},model=tiny")
    prefix = "numbers: 25 5 4 7\ntarget: 80\n"
    (cands,) = remote.propose([prefix], 4, STOP, [21], temperature=1.0, max_tokens=16)
    assert len(cands.proposals) == 4 and len({p.text for p in cands.proposals}) > 1
    # the server seeds each sample as the in-process backend does: the same four samples
    (same,) = local.propose([prefix], 4, STOP, [21], temperature=1.0, max_tokens=16)
    assert [p.text for p in same.proposals] == [p.text for p in cands.proposals]
    assert [p.logprob for p in cands.proposals] == pytest.approx([p.logprob for p in same.proposals], abs=1e-4)
    # and each sample's log-probability is its text's score, where the text re-reads as the same
    # tokens (a random model may sample special tokens, which no text shows)
    plain = [p for p in cands.proposals if p.text and len(local.tokenizer(p.text, add_special_tokens=False)
                                                          ["input_ids"]) == p.tokens]
    assert len(plain) >= 2
    scores = local.score([prefix] * len(plain), [p.text for p in plain])
    assert [p.logprob for p in plain] == pytest.approx(scores, abs=1e-4)
    (again,) = remote.propose([prefix], 4, STOP, [21], temperature=1.0, max_tokens=16)
    assert [p.text for p in again.proposals] == [p.text for p in cands.proposals]


def test_the_server_answers_bad_requests_with_openai_errors(server):
    url = server + "/completions"
    cases = [({"max_tokens": 3}, "prompt"), ({"prompt": "x", "max_tokens": -1}, "max_tokens"),
             ({"prompt": "x", "model": "gpt-9"}, "does not exist"), ({"prompt": "x", "n": 0}, "'n'"),
             ({"prompt": "x", "temperature": "hot"}, "temperature"), ({"prompt": 7}, "prompt"),
             ({"prompt": "x", "stop": [""]}, "stop"), ({"prompt": "x", "max_tokens": 10_000}, "max_tokens"),
             ({"prompt": "x" * 300, "max_tokens": 1}, "context length"), ([1, 2], "JSON object")]
    for body, fragment in cases:
        r = httpx.post(url, json=body, timeout=30)
        assert r.status_code == 400, (body, r.text)
        assert fragment in r.json()["error"]["message"], (body, r.text)
    r = httpx.post(url, content=b"{not json", timeout=30)
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    listed = httpx.get(server + "/models", timeout=30).json()
    assert [m["id"] for m in listed["data"]] == ["tiny"]
    ok = httpx.post(url, json={"prompt": "ab", "max_tokens": 0, "echo": True, "logprobs": 0}, timeout=30).json()
    assert ok["choices"][0]["text"] == "ab" and len(ok["choices"][0]["logprobs"]["token_logprobs"]) == 2


def test_concurrent_requests_are_answered_each_with_its_own_choices(server):
    """The server batches whatever waits; every request still gets its own, seeded answer."""
    from concurrent.futures import ThreadPoolExecutor

    body = {"prompt": "numbers: 1 2 3\ntarget: 6\n", "max_tokens": 6, "n": 2, "logprobs": 0}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda s: httpx.post(server + "/completions", json=dict(body, seed=s), timeout=60).json(),
                                [1, 2, 1, 3, 1, 4, 5, 1]))
    texts = [[c["text"] for c in a["choices"]] for a in answers]
    assert texts[0] == texts[2] == texts[4] == texts[7]  # seed 1, alone or batched with others
    assert len({tuple(t) for t in texts}) > 1


def test_reason_over_http_gives_the_in_process_results(server, model_dir):
    def run(policy):
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "reason", "countdown", "--policy", policy,
                               "--method", "vote:4", "--problems", "6", "--json", "--seed", "2"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(x) for x in proc.stdout.splitlines()]

    far, near = run(f"openai:{server}"), run(f"builtin:{model_dir}")
    assert [(r["solution"], r["correct"], r["tokens"]) for r in far[:-1]] == \
           [(r["solution"], r["correct"], r["tokens"]) for r in near[:-1]]
    assert far[-1]["policy"] == f"openai:{server}"


# ---- faults, each from a real HTTP server ------------------------------------------------------
def spec(server: FakeServer, extra: str = "") -> str:
    return f"openai:{server.url},retries=2,backoff=0.01,timeout=5{extra}"


def good(path, body, count):
    return 200, completion(*[choice("1+2=", (-0.1, -0.2, -0.3, -0.4), index=j) for j in range(body.get("n", 1))]), {}


def test_a_429_then_success_is_retried_and_recovered():
    def script(path, body, count):
        return (429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}) if count < 3 else good(path, body, count)

    with FakeServer(script) as fake:
        (cands,) = make_policy(spec(fake)).propose(["p"], 2, STOP, [1])
        assert [p.text for p in cands.proposals] == ["1+2="] * 2
        assert cands.proposals[0].logprob == pytest.approx(-1.0)
        assert len(fake.completions()) == 2  # one refused, one answered


@pytest.mark.parametrize("fault, fragment", [
    ("500", r"kept failing \(HTTP 500, 3 tries\)"),
    ("timeout", "did not answer in time"),
    ("not json", "not JSON"),
    ("no choices", "without a list of choices"),
    ("400", r"refused the request \(HTTP 400\): bad prompt"),
])
def test_faults_end_in_one_sentence(fault, fragment):
    def script(path, body, count):
        if fault == "timeout":
            time.sleep(1.5)
            return good(path, body, count)
        return {"500": (500, {"error": {"message": "boom"}}, {}), "not json": (200, b"<html>oops", {}),
                "no choices": (200, {"id": "x"}, {}), "400": (400, {"error": {"message": "bad prompt"}}, {})}[fault]

    with FakeServer(script) as fake:
        policy = make_policy(spec(fake, ",timeout=0.5" if fault == "timeout" else ""))
        with pytest.raises(PolicyError, match=fragment) as info:
            policy.propose(["p"], 1, STOP, [1])
        assert "\n" not in str(info.value)


def test_a_refused_connection_and_an_unknown_model_are_one_sentence():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    with pytest.raises(PolicyError, match="cannot connect to the server at http://127.0.0.1:.*is the server running"):
        make_policy(f"openai:http://127.0.0.1:{port}/v1")
    with FakeServer(good, models=("a", "b")) as fake:
        with pytest.raises(PolicyError, match="does not serve the model 'c'; it serves 'a', 'b'"):
            make_policy(f"openai:{fake.url},model=c")
    for bad, fragment in [("openai:ftp://x", "needs a server address"), ("openai:http://x,colour=red", "unknown openai"),
                          ("openai:http://x,concurrency=0", "positive"), ("openai:http://x,timeout=soon", "float")]:
        with pytest.raises(PolicyError, match=fragment):
            make_policy(bad)


def test_missing_logprobs_n_and_echo_fall_back_and_say_so_once():
    import io

    def script(path, body, count):
        if body.get("n", 1) > 1:
            return 400, {"error": {"message": "n must be 1"}}, {}
        if body.get("echo"):
            return 400, {"error": {"message": "echo is not supported"}}, {}
        return 200, completion(choice("3*4", None, stop_reason="=")), {}  # stop cut off, no log-probabilities

    with FakeServer(script) as fake:
        out = io.StringIO()
        policy = make_policy(spec(fake))
        policy.out = out
        for _ in range(2):
            (cands,) = policy.propose(["p"], 3, STOP, [7])
            assert [p.text for p in cands.proposals] == ["3*4="] * 3  # the stop string put back
            assert all(p.logprob == 0.0 for p in cands.proposals)  # uniform priors
        assert all(math.isnan(x) for x in policy.score(["p", "q"], ["1", "2"]))
        assert all(math.isnan(x) for x in policy.score(["p"], ["1"]))
        said = out.getvalue()
        assert said.count("returns no log-probabilities") == 1 and said.count("n > 1") == 1
        assert said.count("echo") == 1
        seeds = [b["seed"] for b in fake.completions() if b.get("n") == 1 and not b.get("echo")]
        assert len(set(seeds[:3])) == 3  # each single-choice request samples differently


def test_the_api_key_goes_only_into_the_header(tmp_path):
    with FakeServer(good) as fake:
        policy = make_policy(spec(fake, ",api_key=sekrit-123"))
        policy.propose(["p"], 1, STOP, [1])
        assert fake.requests[-1][2]["Authorization"] == "Bearer sekrit-123"
        assert "sekrit" not in policy.name
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "reason", "countdown", "--policy",
                               spec(fake, ",api_key=sekrit-123"), "--problems", "2", "--json"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "sekrit" not in proc.stdout + proc.stderr
        env = dict(os.environ, OPENAI_API_KEY="from-env-456")
        subprocess.run([sys.executable, "-m", "engine.cli", "reason", "countdown", "--policy", spec(fake),
                        "--problems", "1"], capture_output=True, text=True, timeout=120, env=env, check=True)
        assert fake.requests[-1][2]["Authorization"] == "Bearer from-env-456"


def test_reason_keeps_the_results_it_finished_when_the_server_fails():
    """vote:64 solves 4 problems a part; the server dies after the first part's requests."""
    def script(path, body, count):
        return (200, completion(choice("", (-0.5,))), {}) if count <= 1 + 4 * 64 else (500, {"error": {}}, {})

    with FakeServer(script) as fake:
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "reason", "countdown", "--policy", spec(fake),
                               "--method", "vote:64", "--problems", "8", "--json"],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(lines) == 5 and lines[-1]["problems"] == 4 and lines[-1]["planned"] == 8
    assert "kept failing" in lines[-1]["stopped"]
    err = proc.stderr.strip().splitlines()[-1]
    assert "Stopped after 4 of 8 problems" in err and "Traceback" not in proc.stderr


@pytest.mark.parametrize("task", ["countdown", "arith", "file"])
def test_a_server_answering_hostile_text_marks_nothing_correct_and_runs_nothing(task, tmp_path):
    sentinel = tmp_path / "SENTINEL"
    answers = hostile(sentinel)

    def script(path, body, count):
        return 200, completion(choice(f"answer: {answers[count % len(answers)]}\n", (-1.0,))), {}

    if task == "file":
        problems = tmp_path / "p.jsonl"
        problems.write_text("".join(json.dumps({"id": f"q{i}", "question": "What is 6*7?", "answer": "42"}) + "\n"
                                    for i in range(6)))
        task = str(problems)
    with FakeServer(script) as fake:
        proc = subprocess.run([sys.executable, "-m", "engine.cli", "reason", task, "--policy", spec(fake),
                               "--method", "vote:4", "--problems", "6", "--json"],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(rows) == 7 and rows[-1]["solved"] == 0 and not any(r["correct"] for r in rows[:-1])
    assert not sentinel.exists()


def test_the_search_expands_the_same_children_over_http_as_in_process(server, model_dir, tmp_path):
    """Free-text steps (a question file), so that even a random model proposes legal children."""
    from mcts import TextSearchConfig, search_text

    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i}+{i}?", "answer": str(2 * i)}) + "\n"
                            for i in range(4)))
    task = make_task(str(path))
    problems = task.problems()
    config = TextSearchConfig(budget=60, samples=6, max_step_tokens=24)
    near = search_text(task, problems, make_policy(f"hf:{model_dir}"), config, seed=4)
    far = search_text(task, problems, make_policy(f"openai:{server}"), config, seed=4)
    children = 0
    for a, b in zip(near, far):
        slots_a, slots_b = a.tree.slots[a.index][0], b.tree.slots[b.index][0]
        assert [(s.line, s.count) for s in slots_a] == [(s.line, s.count) for s in slots_b]
        assert a.tree.tree.prior[a.index, 0] == pytest.approx(b.tree.tree.prior[b.index, 0], abs=1e-6)
        assert (a.tokens, a.simulations) == (b.tokens, b.simulations)
        children += len(slots_a)
    assert children >= 4
