"""The self-play benchmark measures what it says: an unbatched baseline against lockstep self-play
with the same network and search, and the network's own batching gain computed as a ratio of
rates (checked on a simulated clock, so no test depends on this machine's speed)."""

import pytest

import games
from benchmarks import selfplay_bench


def test_selfplay_bench_compares_one_position_per_call_with_full_lockstep_batches():
    game = games.make("tictactoe")
    seq = selfplay_bench.sequential(game, 0.5, "cpu")
    bat = selfplay_bench.batched(game, 0.5, "cpu", games_in_lockstep=8)
    assert seq["mean_batch"] == 1.0  # the baseline never batches
    assert bat["mean_batch"] > 4  # 8 games x 2 leaves per wave, less solved and repeated leaves
    for side in (seq, bat):
        # every move is one search of SIMULATIONS: at least its root, at most every simulation evaluated
        assert side["positions"] >= 1
        assert side["positions"] <= side["evaluated"] <= side["positions"] * (selfplay_bench.SIMULATIONS + 1)
        assert 0 < side["inference_share"] <= 1


def test_network_gain_is_the_ratio_of_batched_to_single_rates(monkeypatch):
    clock = [0.0]

    class Forward:  # 1 ms a call plus 10 us a position, on a simulated clock
        def _forward(self, x):
            clock[0] += 1e-3 + 1e-5 * len(x)

    monkeypatch.setattr(selfplay_bench, "_evaluator", lambda *args, **kwargs: Forward())
    monkeypatch.setattr(selfplay_bench.time, "perf_counter", lambda: clock[0])
    gain = selfplay_bench.network_gain(games.make("tictactoe"), 0.5, "cpu", batch=16)
    assert gain == pytest.approx((16 / 1.16e-3) / (1 / 1.01e-3))


def test_reason_bench_compares_methods_on_the_same_problems_and_writes_its_figures(tmp_path, monkeypatch):
    """On the fake policy: every method and budget gets a row, sample:N is left out where the
    task has only reference answers, tokens per problem are what the methods charged, and the
    JSON file holds the printed rows."""
    import json

    from benchmarks import reason_bench
    from tests.fake_policy import FakePolicy

    monkeypatch.setattr(reason_bench, "make_policy", lambda spec, task=None: FakePolicy())
    rows = reason_bench.main(names=["countdown", "arith"], problems=4, seeds=2, policy="fake", budgets=[60, 120],
                             methods=["sample", "vote", "gumbel"], out=str(tmp_path))
    families = [(r["task"], r["budget"], r.get("family")) for r in rows if r.get("family")]
    assert families == [("countdown", b, f) for b in (60, 120) for f in ("sample", "vote", "gumbel")] + \
                       [("arith", b, f) for b in (60, 120) for f in ("vote", "gumbel")]
    for r in rows:
        assert r["runs"] == 4 * (2 if r.get("family") else 1) and 0 <= r["low"] <= r["solve_rate"] <= r["high"] <= 1
        assert r["tokens_per_problem"] > 0 and 0 < r["policy_share"] <= 1
    assert json.loads((tmp_path / "reason.json").read_text()) == rows
    gumbel = [r for r in rows if r.get("family") == "gumbel" and r["task"] == "countdown"]
    assert gumbel[0]["method"] == "gumbel:60" and gumbel[1]["method"] == "gumbel:120"
    with pytest.raises(ValueError, match="unknown method 'greedy'"):
        reason_bench.main(names=["countdown"], methods=["greedy"], out=str(tmp_path))


def test_reason_bench_puts_several_policies_on_the_first_ones_budgets(tmp_path, monkeypatch):
    """A trained policy beside its base model: both on the same problems, at the budgets planned
    from the first policy's greedy cost, and each row says whose it is."""
    from benchmarks import reason_bench
    from tests.fake_policy import FakePolicy

    made = []
    monkeypatch.setattr(reason_bench, "make_policy", lambda spec, task=None: made.append(spec) or
                        FakePolicy(junk=0.0 if spec == "a" else 0.3))
    rows = reason_bench.main(names=["countdown"], problems=3, seeds=1, policy="a, b", methods=["gumbel"],
                             out=str(tmp_path))
    assert made == ["a", "b"]
    greedy = {r["policy"]: r for r in rows if "family" not in r}
    plan = [round(greedy["a"]["tokens_per_problem"] * 2 ** i) for i in range(1, 6)]
    for spec in ("a", "b"):
        assert [r["budget"] for r in rows if r.get("policy") == spec and r.get("family")] == plan
    assert (tmp_path / "reason.json").exists()


def test_countdown_bench_sorts_every_refused_step_by_why(monkeypatch):
    import engine.llm.specs
    from benchmarks import countdown_stats
    from tests.fake_policy import FakePolicy

    monkeypatch.setattr(engine.llm.specs, "make_policy", lambda spec, task=None: FakePolicy(junk=0.3))
    (row,) = countdown_stats.main(problems=30, policy="fake")
    refused = row["refused"]
    assert set(refused) <= {"malformed", "operand not available", "arithmetic refused", "other"}
    assert refused.get("malformed", 0) > 0 and refused.get("operand not available", 0) > 0
    assert row["legal_share"] + sum(refused.values()) == pytest.approx(1.0)
    assert "other" not in refused  # every refusal has its reason


def test_the_benchmarks_timer_is_the_policy_it_wraps():
    """Timing a policy must not hide its value head (the searches and best:N read it) or its name."""
    from benchmarks.reason_bench import Timed
    from tests.fake_policy import FakePolicy

    class WithHead(FakePolicy):
        value_head = object()

        def value(self, prefixes):
            return [0.5] * len(prefixes)

    policy = WithHead()
    timed = Timed(policy)
    assert timed.value_head is policy.value_head and timed.name == "fake" and timed.usage is policy.usage
    assert timed.value(["a", "b"]) == [0.5, 0.5] and timed.seconds > 0
    timed.propose(["numbers: 1 2\n"], 2, ("=",), [0])
    assert policy.usage.calls == 1


def test_mcts_bench_ratios_hold_everything_but_the_search_equal(monkeypatch):
    """Each ratio divides by OpenSpiel at the same simulations and number of searches, both with
    rollouts; the single-tree default row is what the `mcts:N` player searches with."""
    from benchmarks import mcts_bench
    from engine.play.specs import make_player

    monkeypatch.setattr(mcts_bench, "openspiel_rate", lambda name, sims, seconds, searches=1: 1e6 * sims + searches)
    monkeypatch.setattr(mcts_bench, "ours_rate", lambda name, cfg, seconds, trees=1, evaluator="rollout", compiled=True: 7.0)
    rows = mcts_bench.main(seconds=0.01, names=["connect4"])
    for r in rows:
        if r["ratio"] is None:
            assert r["evaluator"] == "uniform"
        else:
            assert r["evaluator"] == "rollout" and r["openspiel_sims_per_s"] == 1e6 * r["simulations"] + r["trees"]
    player = make_player("mcts:1000", games.make("connect4"))
    default = next(r for r in rows if "mcts:1000 defaults" in r["setting"])
    assert default["leaves_per_wave"] == player.config.leaves_per_wave and default["trees"] == 1
    assert {r["simulations"] for r in rows if "defaults" in r["setting"]} == {1000, 10000}


def test_games_bench_compares_playouts_with_playouts(monkeypatch):
    from benchmarks import games_bench

    monkeypatch.setattr(games_bench, "native_rate", lambda name, seconds: (100.0, 10000.0))  # 100 moves a playout
    monkeypatch.setattr(games_bench, "pyspiel_python_rate", lambda name, seconds: (2.0, 400.0))  # 200 a playout
    monkeypatch.setattr(games_bench, "openspiel_cpp_rate", lambda name, seconds: 50.0)
    row = games_bench.main(seconds=0.01, names=["go9"])[0]
    assert row["ratio_per_playout"] == 2.0 and row["cpp_moves_per_s"] == 50.0 * 200
    assert row["ratio_per_move"] == 10000.0 / 10000.0  # shorter native games: per move it is even


def test_learners_bench_trains_each_arm_from_the_same_base_and_skips_finished_arms(tmp_path):
    """Two arms on a tiny model for one iteration each: each run directory holds its arm's
    settings and the same base, the summary holds both, and a rerun trains nothing again."""
    import json

    from benchmarks import learners_bench
    from engine.llm.hfdir import make_model, make_tokenizer, save

    init = tmp_path / "init"
    tok = make_tokenizer()
    save(make_model(tok, "tiny", seed=4), tok, str(init))
    small = dict(problems_per_iteration=4, samples=2, steps_per_iteration=1, batch_size=4)
    kwargs = dict(seconds=0.01, methods=["right_short", "all"], policy=f"builtin:{init}", problems=6,
                  out=str(tmp_path / "out"), settings=small)
    summary = learners_bench.main(**kwargs)
    assert set(summary["arms"]) == {"right_short", "all"} and 0 <= summary["base_greedy"] <= 1
    for arm, select in (("right_short", "right_short"), ("all", "all")):
        config = json.loads((tmp_path / "out" / f"{arm}-seed0" / "config.json").read_text())
        assert config["select"] == select and config["init"] == str(init) and config["eval_problems"] == 6
        assert summary["arms"][arm]["iterations"] == 1
    again = learners_bench.main(**kwargs)
    assert again["arms"]["all"]["rows"] == summary["arms"]["all"]["rows"]  # finished arms are not trained again
    assert json.loads((tmp_path / "out" / "learners.json").read_text())["base_greedy"] == summary["base_greedy"]
    with pytest.raises(ValueError, match="unknown arm 'ppo'"):
        learners_bench.main(methods=["ppo"], out=str(tmp_path / "x"))
