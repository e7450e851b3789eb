"""The RLHF commands of `move37`, for outputs no checker can judge:
    move37 prefs reviews PAIRS.jsonl       preference pairs of the base model's outputs, labelled
                                           by the task's stand-in for people
    move37 reward PAIRS.jsonl              a reward-model ensemble from any preference file
    move37 train reviews --reward DIR      optimise the policy against it, guarded
    move37 sample reviews --policy P       read a policy's outputs (with --reward, their rewards)
"""

from __future__ import annotations

import json
import os
import sys

from engine.usage import UsageError

STAND_INS = {"reviews": "games.text.people"}  # tasks whose people are simulated


def _task(spec: str):
    from engine.cli_llm import _task as make

    return make(spec)


def _settings(config, items: list[str]):
    from mcts.settings import replace_from

    for item in items:
        if "=" not in item:
            raise UsageError(f"settings are key=value, not {item!r}.")
    try:
        return replace_from(config, dict(item.split("=", 1) for item in items))
    except ValueError as e:
        raise UsageError(str(e)) from None


def _policy(spec: str, task_name: str, device: str = "auto"):
    from engine.cli_llm import ensure_builtin
    from engine.llm.policy import PolicyError
    from engine.llm.specs import make_policy

    if spec == "builtin":
        ensure_builtin(_task(task_name))
    try:
        return make_policy(spec, task_name, device)
    except PolicyError as e:
        raise UsageError(str(e)) from None


def _init_dir(spec: str | None, task) -> str:
    from engine.cli_llm import ensure_builtin
    from engine.llm.specs import builtin_run_dir, model_dir

    if spec is None:
        ensure_builtin(task)
        return model_dir(builtin_run_dir(task.name))
    found = model_dir(spec[len("builtin:"):] if spec.startswith("builtin:") else spec)
    if found is None:
        raise UsageError(f"--init {spec} holds no Hugging Face model directory.")
    return found


def cmd_prefs(args) -> int:
    import importlib

    from training.preferences import sample_pairs, write_preferences

    task = _task(args.task)
    if task.name not in STAND_INS:
        raise UsageError(f"{task.name} has no simulated people; preference data for it must come from a file.")
    if args.pairs < 1 or args.temperature <= 0:
        raise UsageError("--pairs must be at least 1 and --temperature positive.")
    people = importlib.import_module(STAND_INS[task.name])
    policy = _policy(args.policy, task.name, args.device)
    problems, a, b = sample_pairs(task, policy, args.pairs, args.seed)
    rows, ceiling = people.label_pairs(problems, a, b, args.seed, args.temperature)
    write_preferences(args.out, rows)
    with open(args.out + ".meta.json", "w") as f:
        json.dump({"pairs": len(rows), "policy": policy.name, "seed": args.seed, "temperature": args.temperature,
                   "noise_ceiling": ceiling}, f, indent=1)
    print(f"Wrote {len(rows)} preference pairs to {args.out} (labels' noise ceiling {ceiling:.1%}: the accuracy "
          f"the hidden scorer itself expects on them). Train a reward model: move37 reward {args.out}")
    return 0


def cmd_reward(args) -> int:
    from training.preferences import PreferenceError, read_preferences
    from training.reward import RewardConfig, RewardTrainer
    from training.run import RunError

    config = _settings(RewardConfig(), args.settings)
    try:
        pairs = read_preferences(args.pairs)
    except PreferenceError as e:
        raise UsageError(str(e)) from None
    init = _init_dir(args.init, _task(args.task))
    ceiling = None
    if os.path.isfile(args.pairs + ".meta.json"):
        with open(args.pairs + ".meta.json") as f:
            ceiling = json.load(f).get("noise_ceiling")
    run_dir = args.run_dir or os.path.join("runs", "reward")
    try:
        trainer = RewardTrainer(pairs, run_dir, init, config, resume=args.resume, noise_ceiling=ceiling,
                                device=args.device or "cpu")
    except RunError as e:
        raise UsageError(str(e)) from None
    print(f"Training {config.members} reward models on {len(trainer.train)} pairs ({len(trainer.valid)} held out) "
          f"in {run_dir} from {init}")
    try:
        info = trainer.run()
    except KeyboardInterrupt:
        print(f"Stopped. Continue with: move37 reward {args.pairs} --run-dir {run_dir} --resume", file=sys.stderr)
        return 130
    accs = ", ".join(f"{a:.1%}" for a in info["member_accuracy"])
    print(f"Done: held-out pair accuracy {info['ensemble_accuracy']:.1%} (ensemble; members {accs})"
          + (f", labels' noise ceiling {ceiling:.1%}" if ceiling is not None else "")
          + f". Optimise against it: move37 train {args.task} --reward {run_dir}")
    return 0


def cmd_train_rlhf(args) -> int:
    import importlib

    from training.rlhf import RLHF, RLHFConfig
    from training.run import RunError

    task = _task(args.game)
    if args.list_settings:
        from engine.cli_llm import print_settings

        print_settings(RLHFConfig)
        return 0
    if not args.reward:
        raise UsageError(f"{task.name} has no checker: pass --reward DIR, a reward run from `move37 reward`.")
    items = list(args.settings) + ([f"seed={args.seed}"] if args.seed is not None else [])
    run_dir = args.run_dir or os.path.join("runs", f"{task.name}-rlhf")
    saved = os.path.join(run_dir, "config.json")
    base = RLHFConfig()
    if args.resume and os.path.isfile(saved):  # a resumed run keeps its settings
        with open(saved) as f:
            known = {k: v for k, v in json.load(f).items() if k in RLHFConfig.__dataclass_fields__}
        base = RLHFConfig(**known)
    config = _settings(base, items)
    init = _init_dir(args.init, task)
    monitor = importlib.import_module(STAND_INS[task.name]).gold_score if task.name in STAND_INS else None
    try:
        trainer = RLHF(task, run_dir, init, args.reward, config, resume=args.resume, monitor=monitor,
                       device=args.device or "auto")
    except (RunError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(f"Optimising {task.name} against the reward model in {args.reward} ({config.learner}, at most "
          f"{config.steps} steps, KL penalty {config.kl_coef:g}) in {run_dir}; TensorBoard: "
          f"tensorboard --logdir {os.path.join(run_dir, 'tensorboard')}")
    try:
        last = trainer.run()
    except KeyboardInterrupt:
        print(f"Stopped. Continue with: move37 train {args.game} --reward {args.reward} --run-dir {run_dir} --resume",
              file=sys.stderr)
        return 130
    g = trainer.guard
    if g.stop_step is not None:
        print(f"The guard stopped at step {g.stop_step} ({g.reason}); kept step {g.best_step}.")
    if last:
        print(f"Done: {trainer.step} steps; kept step {g.best_step} (the guard's best). Read it: "
              f"move37 sample {args.game} --policy builtin:{run_dir} --reward {args.reward}")
    return 0


def cmd_sample(args) -> int:
    from games.text.reviews import MAX_CHARS

    task = _task(args.task)
    if args.prompts < 1 or args.n < 1:
        raise UsageError("--prompts and --n must be at least 1.")
    policy = _policy(args.policy, task.name, args.device)
    rewards = None
    if args.reward:
        from training.reward import RewardEnsemble
        from training.run import RunError

        try:
            rewards = RewardEnsemble(args.reward)
        except RunError as e:
            raise UsageError(str(e)) from None
    problems = task.problems(args.split, args.prompts, seed=args.seed)
    seeds = [args.seed * 1_000_003 + i for i in range(len(problems))]
    cands = policy.propose([p.prompt for p in problems], args.n, task.stop, seeds, 1.0, MAX_CHARS)
    for p, cand in zip(problems, cands):
        texts = [c.text for c in cand.proposals]
        scores = rewards.scores([p.prompt] * len(texts), texts) if rewards else None
        print(p.prompt.rstrip("\n"))
        for j, text in enumerate(texts):
            note = f"  [reward {scores[0][j]:+.2f}, members' spread {scores[:, j].std():.2f}]" if scores is not None else ""
            print(f"  {text.rstrip() or '(nothing)'}{note}")
    return 0


def add_rlhf_commands(sub) -> None:
    s = sub.add_parser("prefs", help="preference pairs of a policy's outputs, labelled by a task's simulated people")
    s.add_argument("task", help="reviews")
    s.add_argument("out", help="the JSONL file to write ({prompt, chosen, rejected} a line)")
    s.add_argument("--pairs", type=int, default=2000, help="how many pairs (default 2000)")
    s.add_argument("--policy", default="builtin", help="whose outputs are ranked (default builtin)")
    s.add_argument("--temperature", type=float, default=1.0, help="Bradley-Terry noise of the labels (default 1)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_prefs)

    s = sub.add_parser("reward", help="train a reward-model ensemble on a JSONL preference file")
    s.add_argument("pairs", help='JSONL, one {"prompt", "chosen", "rejected"} a line (TRL and HH format)')
    s.add_argument("settings", nargs="*", help="key=value: members, epochs, share, batch_size, learning_rate, "
                                               "validation, seed")
    s.add_argument("--task", default="reviews", help="the task whose base model starts the reward models (default reviews)")
    s.add_argument("--init", default=None, help="the model whose transformer the reward models start from "
                                                "(default: the task's built-in model)")
    s.add_argument("--run-dir", default=None, help="where the run lives (default runs/reward)")
    s.add_argument("--resume", action="store_true", help="continue the run in the run directory")
    s.add_argument("--device", default=None, help="cpu (default) or cuda[:N]")
    s.set_defaults(func=cmd_reward)

    s = sub.add_parser("sample", help="sample a policy's outputs for a task's prompts (with --reward, their rewards)")
    s.add_argument("task", help="reviews (or any task)")
    s.add_argument("--policy", default="builtin", help="builtin (default), builtin:DIR, hf:DIR or openai:URL")
    s.add_argument("--reward", default=None, help="a reward run directory: print each output's reward")
    s.add_argument("--prompts", type=int, default=4)
    s.add_argument("--n", type=int, default=2, help="outputs per prompt (default 2)")
    s.add_argument("--split", default="heldout", help="heldout (default) or train")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_sample)
