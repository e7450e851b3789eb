"""Over-optimisation of a learned reward, measured as Gao, Schulman and Hilton (2022) did, and
the guard that stops it without seeing the gold reward.

    move37 bench overopt [--seeds 3] [--policy builtin] [--problems 32] [--samples 1024[,N,...]]
                         [--out runs/bench/overopt]

Per seed, on the `reviews` task with its hidden people (games/text/people.py) standing in for
raters:
1. preference data: PAIRS pairs of the base model's outputs, labelled by the people with
   Bradley-Terry noise (`move37 prefs`);
2. a reward-model ensemble on them (`move37 reward`; member 0 is the proxy optimised);
3. best-of-n: `--samples` outputs of the base model for each of `--problems` held-out prompts
   (one number for every seed, or one per seed: a seed whose curve has not turned can be run
   further without rerunning the others);
   proxy and gold of best-of-n for n = 1, 2, 4, ... by the unbiased estimator, against
   d = sqrt(log n - (n - 1) / n);
4. RL: GRPO against the proxy with a small KL penalty (`move37 train reviews --reward DIR
   stop=false`), run to its step cap so that the curve goes past the gold peak, evaluated every
   few steps on fixed held-out prompts; the guard's stop and kept step are recorded as it would
   have made them.
Then, per method, Gao et al.'s functional forms fitted to the gold gain (pooled over seeds), and
per seed the gold gain at the guard's kept step as a share of the peak gold gain. Writes
overopt.json and overopt.png into --out; each seed's run directories stay there (a rerun
resumes them). Long: about RL_STEPS steps of a few seconds per seed on a CPU.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from engine.llm.specs import make_policy
from games.math import make_task
from games.text import people
from games.text.reviews import MAX_CHARS
from training.guard import Guard, GuardConfig
from training.overopt import best_of_n, bon_kl, fit_bon, fit_rl
from training.preferences import read_preferences, sample_pairs, write_preferences
from training.reward import RewardConfig, RewardEnsemble, RewardTrainer
from training.rlhf import RLHF, RLHFConfig

PAIRS = 2000
SAMPLES = 1024  # best-of-n outputs per prompt; at 256 best-of-n had not turned down on every seed
RL_STEPS = 100
RL = dict(learning_rate=5e-5, kl_coef=0.005, eval_every=5, eval_prompts=32, eval_samples=4)


def best_of_n_curve(task, policy, ensemble, problems, samples: int, seed: int) -> list[dict]:
    ns = [2 ** k for k in range(int(math.log2(samples)) + 1)]
    proxy_at = np.zeros((len(problems), len(ns)))
    gold_at = np.zeros_like(proxy_at)
    for i, p in enumerate(problems):
        cands = policy.propose([p.prompt], samples, ("\n",), [seed * 1_000_003 + i], 1.0, MAX_CHARS)[0]
        texts = [c.text for c in cands.proposals]
        proxy = ensemble.scores([p.prompt] * len(texts), texts)[0]
        gold = np.array([people.gold_score(p, t) for t in texts])
        for j, n in enumerate(ns):
            proxy_at[i, j] = best_of_n(proxy, proxy, n)
            gold_at[i, j] = best_of_n(proxy, gold, n)
    return [{"n": n, "kl": bon_kl(n), "sqrt_kl": math.sqrt(bon_kl(n)), "proxy": float(proxy_at[:, j].mean()),
             "gold": float(gold_at[:, j].mean())} for j, n in enumerate(ns)]


def one_seed(task, policy_spec: str, init: str, seed: int, prompts: int, out: str, samples: int = SAMPLES) -> dict:
    os.makedirs(out, exist_ok=True)
    prefs = os.path.join(out, "prefs.jsonl")
    policy = make_policy(policy_spec, task.name)
    if not os.path.exists(prefs):
        problems, a, b = sample_pairs(task, policy, PAIRS, seed)
        rows, ceiling = people.label_pairs(problems, a, b, seed)
        write_preferences(prefs, rows)
        with open(prefs + ".meta.json", "w") as f:
            json.dump({"noise_ceiling": ceiling}, f)
    with open(prefs + ".meta.json") as f:
        ceiling = json.load(f)["noise_ceiling"]
    reward_dir = os.path.join(out, "reward")
    if not os.path.exists(os.path.join(reward_dir, "reward.json")):
        RewardTrainer(read_preferences(prefs), reward_dir, init, RewardConfig(seed=seed), noise_ceiling=ceiling,
                      resume=os.path.exists(os.path.join(reward_dir, "state.json"))).run()
    with open(os.path.join(reward_dir, "reward.json")) as f:
        info = json.load(f)
    bon_path = os.path.join(out, f"bon-{samples}.json")
    if not os.path.exists(bon_path):
        ensemble = RewardEnsemble(reward_dir)
        curve = best_of_n_curve(task, policy, ensemble, task.problems("heldout", prompts, seed=100 + seed),
                                samples, seed)
        with open(bon_path, "w") as f:
            json.dump(curve, f)
    with open(bon_path) as f:
        bon = json.load(f)
    rl_dir = os.path.join(out, "rl")
    cfg = RLHFConfig(seed=seed, steps=RL_STEPS, stop=False, **RL)
    if not os.path.exists(os.path.join(rl_dir, "state.pt")) or _last_step(rl_dir) < RL_STEPS:
        RLHF(task, rl_dir, init, reward_dir, cfg, resume=os.path.exists(os.path.join(rl_dir, "state.pt")),
             monitor=people.gold_score).run()
    with open(os.path.join(rl_dir, "metrics.jsonl")) as f:
        rows = [json.loads(x) for x in f]
    evals = [r for r in rows if "eval_gold_reward" in r and r["step"] <= RL_STEPS]
    rl = [{"step": r["step"], "kl": r["eval_kl"], "sqrt_kl": r["eval_sqrt_kl"], "proxy": r["eval_proxy_reward"],
           "gold": r["eval_gold_reward"], "heldout": r["eval_heldout_reward"], "disagreement": r["eval_disagreement"]}
          for r in evals]
    # the guard replayed over the evaluations with its default settings (it reads no gold)
    guard = Guard(GuardConfig(cfg.patience, cfg.uncertainty, cfg.kl_budget, cfg.disagreement_rise))
    for r in rl:
        guard.update(r["step"], r["heldout"], r["disagreement"], r["kl"])
    stop, kept_at_stop = guard.stop_step, guard.best_step
    gold0 = rl[0]["gold"]
    peak = max(rl, key=lambda r: r["gold"])
    gold_kept = next(r["gold"] for r in rl if r["step"] == kept_at_stop)
    return {"seed": seed, "reward": info, "bon": bon, "rl": rl,
            "guard": {"stop_step": stop, "kept_step": kept_at_stop, "peak_step": peak["step"],
                      "gold_start": gold0, "gold_peak": peak["gold"], "gold_kept": gold_kept,
                      "share_of_peak_gain": (gold_kept - gold0) / (peak["gold"] - gold0)
                      if peak["gold"] > gold0 else float("nan")}}


def _last_step(rl_dir: str) -> int:
    try:
        with open(os.path.join(rl_dir, "metrics.jsonl")) as f:
            return max(json.loads(x)["step"] for x in f)
    except (OSError, ValueError):
        return -1


def plot(results: list[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, title in ((axes[0], "bon", "best-of-n"), (axes[1], "rl", "RL (GRPO, KL penalty 0.005)")):
        for r, color in zip(results, ("C0", "C1", "C2", "C3", "C4")):
            pts = r[key]
            d = [p["sqrt_kl"] for p in pts]
            g0, p0 = pts[0]["gold"], pts[0]["proxy"]
            ax.plot(d, [p["proxy"] - p0 for p in pts], "--", color=color, alpha=0.8)
            ax.plot(d, [p["gold"] - g0 for p in pts], "-", color=color, label=f"seed {r['seed']}")
            if key == "rl":
                kept = r["guard"]["kept_step"]
                at = next(p for p in pts if p["step"] == kept)
                ax.plot([at["sqrt_kl"]], [at["gold"] - g0], "o", color=color, ms=8, mfc="none")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("d = sqrt(KL to the base policy), nats^0.5")
        ax.set_ylabel("reward gain (dashed: proxy RM; solid: gold)")
        ax.set_title(title)
        ax.legend()
    axes[1].text(0.02, 0.02, "o: the checkpoint the guard kept", transform=axes[1].transAxes, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(names=None, seeds: int = 3, policy: str = "builtin", problems: int = 32,
         samples: int | list[int] = SAMPLES, out: str | None = None) -> dict:
    per_seed = [samples] * seeds if isinstance(samples, int) else list(samples)
    if len(per_seed) == 1:
        per_seed *= seeds
    if len(per_seed) != seeds:
        raise ValueError(f"--samples gives {len(per_seed)} numbers for {seeds} seeds; give one, or one per seed.")
    if any(n < 1 for n in per_seed):
        raise ValueError("--samples takes positive numbers.")
    task = make_task("reviews")
    out = out or os.path.join("runs", "bench", "overopt")
    from engine.cli_llm import base_model_dir

    init = base_model_dir(policy, task)
    if init is None:
        raise ValueError(f"{policy} is not a local model directory; the benchmark trains from one.")
    results = []
    for seed in range(seeds):
        r = one_seed(task, policy, init, seed, problems, os.path.join(out, f"seed-{seed}"), per_seed[seed])
        results.append(r)
        g = r["guard"]
        print(f"seed {seed}: reward-model accuracy {r['reward']['ensemble_accuracy']:.1%} "
              f"(noise ceiling {r['reward']['noise_ceiling']:.1%}); best-of-{r['bon'][-1]['n']} gold "
              f"{r['bon'][-1]['gold'] - r['bon'][0]['gold']:+.2f} (peak {max(p['gold'] for p in r['bon']) - r['bon'][0]['gold']:+.2f}); "
              f"RL gold peak {g['gold_peak'] - g['gold_start']:+.2f} at step {g['peak_step']}, guard stop {g['stop_step']}, "
              f"kept step {g['kept_step']} with {g['share_of_peak_gain']:.0%} of the peak gain", flush=True)
    fits = {}
    for key, fit in (("bon", fit_bon), ("rl", fit_rl)):
        d = np.concatenate([[p["sqrt_kl"] for p in r[key]] for r in results])
        gold = np.concatenate([[p["gold"] - r[key][0]["gold"] for p in r[key]] for r in results])
        proxy = np.concatenate([[p["proxy"] - r[key][0]["proxy"] for p in r[key]] for r in results])
        fits[key] = {"gold": dict(zip(("alpha", "beta"), fit(d, gold))), "proxy": dict(zip(("alpha", "beta"), fit(d, proxy)))}
    print(f"gold fits: best-of-n d(alpha - beta d) alpha {fits['bon']['gold']['alpha']:.3f} beta "
          f"{fits['bon']['gold']['beta']:.3f}; RL d(alpha - beta log d) alpha {fits['rl']['gold']['alpha']:.3f} "
          f"beta {fits['rl']['gold']['beta']:.3f}")
    shown = str(per_seed[0]) if len(set(per_seed)) == 1 else ",".join(map(str, per_seed))
    summary = {"command": f"move37 bench overopt --seeds {seeds} --problems {problems} --samples {shown}",
               "pairs": PAIRS, "bon_samples": per_seed, "rl_steps": RL_STEPS, "rl": RL, "fits": fits, "seeds": results}
    with open(os.path.join(out, "overopt.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot(results, os.path.join(out, "overopt.png"))
    return summary
