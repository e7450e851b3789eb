"""The language-model commands of `move37`: `pretrain` (a task's base model) and `reason`
(solve and check problems with a policy). Like engine/cli.py, each command imports what it
needs when it runs."""

from __future__ import annotations

import os
import sys

from engine.usage import UsageError


def _task(spec: str):
    from games.math import TaskError, make_task

    try:
        return make_task(spec)
    except TaskError as e:
        raise UsageError(str(e)) from None


def _pretrain_config(args, task):
    from training.pretrain import default_config

    config = default_config(task)
    for key in ("steps", "batch_size", "size", "seed", "save_every"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(config, key, value)
    if config.steps < 1 or config.batch_size < 1 or config.save_every < 1:
        raise UsageError("--steps, --batch-size and --save-every must be at least 1.")
    from engine.llm.hfdir import SIZES

    if config.size not in SIZES:
        raise UsageError(f"--size must be one of {', '.join(SIZES)}, not {config.size!r}.")
    return config


def cmd_pretrain(args) -> int:
    from engine.llm.specs import builtin_run_dir
    from games.math import TaskError
    from training.pretrain import Pretrainer
    from training.run import RunError

    task = _task(args.task)
    run_dir = args.run_dir or builtin_run_dir(task.name)
    try:
        trainer = Pretrainer(task, run_dir, _pretrain_config(args, task), resume=args.resume)
    except (RunError, TaskError) as e:
        raise UsageError(str(e)) from None
    print(f"Pretraining the {task.name} base model in {run_dir} ({trainer.config.steps} steps); TensorBoard: "
          f"tensorboard --logdir {os.path.join(run_dir, 'tensorboard')}")
    try:
        last = trainer.run()
    except KeyboardInterrupt:
        print(f"Stopped. Continue with: move37 pretrain {args.task} --run-dir {run_dir} --resume", file=sys.stderr)
        return 130
    share = last.get("legal_step_share")
    print(f"Done: step {last.get('step')}, loss {last.get('loss', float('nan')):.3f}"
          + (f", {share:.1%} of sampled steps legal" if share is not None else "") + f". Model: {run_dir}/model")
    return 0


def base_model_dir(policy: str, task) -> str | None:
    """The local model directory `builtin` or `builtin:DIR` names (the task's base model trained
    first where it is missing), for commands that train from one; None for other specs."""
    from engine.llm.specs import builtin_run_dir, model_dir

    if policy == "builtin":
        ensure_builtin(task)
    return model_dir(policy.partition(":")[2] or builtin_run_dir(task.name))


def ensure_builtin(task) -> None:
    """`builtin` without a directory: the task's base model, trained first if it is not there
    yet (as a hub client downloads), never by two processes at once."""
    import time

    from engine.llm.specs import builtin_run_dir, model_dir
    from training.pretrain import Pretrainer, default_config
    from training.run import RunError

    run_dir = builtin_run_dir(task.name)
    while model_dir(run_dir) is None or not os.path.exists(os.path.join(run_dir, "done")):
        os.makedirs(run_dir, exist_ok=True)
        try:
            trainer = Pretrainer(task, run_dir, default_config(task), resume=True)
        except RunError:  # another process is training it: wait for that one
            print(f"Waiting for another process to finish the {task.name} base model in {run_dir}...", file=sys.stderr)
            time.sleep(10)
            continue
        print(f"The built-in model for {task.name} is not here yet; training it now in {run_dir} "
              f"(once, minutes on a CPU; `move37 pretrain {task.name}` does the same).", file=sys.stderr)
        trainer.run()


def cmd_reason(args) -> int:
    import json

    from engine.llm.policy import PolicyError
    from engine.llm.solve import ROWS_PER_CALL, Clock, parse_method, solve, summary
    from engine.llm.specs import make_policy

    task = _task(args.task)
    try:
        method, n, _ = parse_method(args.method)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.problems is not None and args.problems < 1:
        raise UsageError("--problems must be at least 1.")
    from games.math import TaskError

    try:
        whole_file = getattr(task, "rows", None) is not None
        problems = task.problems(args.split, args.problems or (None if whole_file else 1000), args.seed or 0)
    except TaskError as e:
        raise UsageError(str(e)) from None
    if args.policy.strip() == "builtin":
        ensure_builtin(task)
    try:
        policy = make_policy(args.policy, task.name, args.device)
    except PolicyError as e:
        raise UsageError(str(e)) from None

    if args.show_tree and method not in ("mcts", "gumbel"):
        raise UsageError("--show-tree needs a search method (mcts:TOKENS or gumbel:TOKENS).")
    shown = policy.name  # never the raw spec: it may carry an API key
    clock, results = Clock(), []
    per_part = max(1, ROWS_PER_CALL // n)  # problems solved together; each part is printed when done

    def progress(done, total):
        print(f"\r{len(results)}/{len(problems)} problems done; this part: {done}/{total}", end="", file=sys.stderr,
              flush=True)

    def emit(r):
        from mcts.text import render_tree

        if args.json:
            row = r.to_json()
            if args.show_tree:
                row["tree"] = render_tree(r.search)
            print(json.dumps(row), flush=True)
        else:
            print(f"{r.problem.id}  {'right' if r.correct else 'wrong'}  answer {r.answer}  tokens {r.tokens}", flush=True)
            if args.show_tree:
                print(render_tree(r.search), flush=True)

    failure = None
    try:
        for start in range(0, len(problems), per_part):
            part = solve(task, problems[start:start + per_part], policy, args.method, args.seed or 0, progress)
            print("\r", end="", file=sys.stderr)
            for r in part:
                emit(r)
            results += part
    except PolicyError as e:
        failure = str(e)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(file=sys.stderr)
    total = summary(results, clock.seconds())
    total.update(task=task.name, policy=shown, method=args.method)
    if failure:
        total.update(stopped=failure, planned=len(problems))
    if args.json:
        print(json.dumps(total))
    else:
        print(f"{task.name}, {shown}, {args.method}: solved {total['solved']}/{total['problems']} = "
              f"{total['solve_rate']:.1%} (95% {total['low']:.1%} to {total['high']:.1%}); "
              f"{total['tokens_per_problem']:.1f} generated and {total['prompt_tokens_per_problem']:.1f} prompt tokens "
              f"per problem; {total['seconds']:.1f} s")
    if failure:
        print(f"move37 reason: {failure} Stopped after {len(results)} of {len(problems)} problems; "
              f"the results above are theirs.", file=sys.stderr)
        return 1
    return 0


def print_settings(config_class) -> None:
    """`move37 train TASK --settings` for a language-model trainer: each setting, its default
    and what it does."""
    from mcts.settings import describe

    config = config_class()
    for key, text in describe(config_class).items():
        print(f"{key} = {getattr(config, key)!r}\n    {text}")


def cmd_train_reasoning(args) -> int:
    """`move37 train TASK` for a reasoning task: expert iteration from the base model."""
    import dataclasses

    from engine.llm.specs import builtin_run_dir, model_dir
    from mcts.settings import replace_from
    from training.expert import ExpertConfig, ExpertIteration
    from training.run import RunError

    task = _task(args.game)
    if args.list_settings:
        print_settings(ExpertConfig)
        return 0
    if args.config:
        raise UsageError("--config (a TOML file) applies to game training; give reasoning settings as key=value.")
    values = dict(item.split("=", 1) for item in args.settings)
    for key in ("minutes", "seed"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    run_dir = args.run_dir or os.path.join("runs", task.name)
    try:
        config = replace_from(ExpertConfig(), values)
        if args.resume and os.path.exists(os.path.join(run_dir, "config.json")):  # a resumed run keeps its settings
            import json

            with open(os.path.join(run_dir, "config.json")) as f:
                saved = {k: v for k, v in json.load(f).items() if k in {x.name for x in dataclasses.fields(ExpertConfig)}}
            config = replace_from(ExpertConfig(**saved), values)
    except ValueError as e:
        raise UsageError(str(e)) from None
    init = args.init
    if init is None:
        ensure_builtin(task)
        init = model_dir(builtin_run_dir(task.name))
    elif model_dir(init) is None:
        raise UsageError(f"--init {init} holds no Hugging Face model directory.")
    else:
        init = model_dir(init)
    try:
        trainer = ExpertIteration(task, run_dir, init, config, resume=args.resume, device=args.device or "auto")
    except (RunError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(f"Training {task.name} by expert iteration in {run_dir} from {init} for "
          + (f"{config.iterations} iterations" if config.iterations else f"{config.minutes:g} minutes")
          + f" ({config.samples} {config.generator} solutions a problem, keeping {config.select}); TensorBoard: "
          f"tensorboard --logdir {os.path.join(run_dir, 'tensorboard')}")
    try:
        last = trainer.run()
    except KeyboardInterrupt:
        print(f"Stopped. Continue with: move37 train {args.game} --run-dir {run_dir} --resume", file=sys.stderr)
        return 130
    if last:
        print(f"Done: {last['iteration']} iterations, {last['elapsed_minutes']:.1f} minutes, held-out greedy solve "
              f"rate {last['greedy_solve_rate']:.1%} (best {trainer.best:.1%}). Use it: move37 reason {args.game} "
              f"--policy builtin:{run_dir}")
    return 0


def cmd_serve(args) -> int:
    from engine.llm.policy import PolicyError
    from engine.llm.serve import serve
    from engine.llm.specs import model_dir

    found = model_dir(args.directory)
    if found is None:
        raise UsageError(f"{args.directory} holds no Hugging Face model directory (config.json and weights), "
                         f"nor a run directory with model/.")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {args.port}.")

    def ready(port, served):
        print(f"Serving {served} at http://{args.host}:{port}/v1 (OpenAI completions); "
              f"policy spec: openai:http://{args.host}:{port}/v1", flush=True)

    try:
        serve(found, args.host, args.port, args.name, args.device, ready)
    except PolicyError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}.") from None
    except KeyboardInterrupt:
        pass
    return 0


def add_llm_commands(sub) -> None:
    s = sub.add_parser("pretrain", help="train a reasoning task's base language model from generated traces")
    s.add_argument("task", help="countdown, arith or reviews (with parameters, e.g. countdown(numbers=5))")
    s.add_argument("--run-dir", default=None, help="where the run lives (default: the built-in model's place)")
    s.add_argument("--resume", action="store_true", help="continue the run in the run directory")
    s.add_argument("--steps", type=int, default=None, help="optimizer steps (default 4000; reviews 800)")
    s.add_argument("--batch-size", type=int, default=None, help="traces per step (default 32)")
    s.add_argument("--size", default=None, help="model size: small (default) or tiny")
    s.add_argument("--save-every", type=int, default=None, help="steps between checkpoints (default 500)")
    s.add_argument("--seed", type=int, default=None)
    s.set_defaults(func=cmd_pretrain)

    s = sub.add_parser("reason", help="solve reasoning problems with a language-model policy and check them")
    s.add_argument("task", help="countdown, arith, or a .jsonl file of problems")
    s.add_argument("--policy", default="builtin", help="builtin (default), builtin:DIR, hf:DIR or openai:URL[,model=NAME,...]")
    s.add_argument("--method", default="greedy", help="greedy (default), sample:N, vote:N, best:N (ranked by the value head), beam:W,K (W beams, "
                   "K samples each), or a tree search with a "
                   "budget of generated tokens per problem: mcts:TOKENS (PUCT) or gumbel:TOKENS, with ,key=value "
                   "settings (e.g. gumbel:1024,samples=4)")
    s.add_argument("--problems", type=int, default=None, help="how many problems (default 1000, or the whole file)")
    s.add_argument("--split", default="heldout", help="heldout (default) or train (generated tasks)")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--device", default="auto", help="auto (default), cpu or cuda[:N]")
    s.add_argument("--json", action="store_true", help="one JSON object per problem, then a summary object")
    s.add_argument("--show-tree", action="store_true", help="print each problem's search tree (steps, visits, "
                   "mean values, priors)")
    s.set_defaults(func=cmd_reason)

    s = sub.add_parser("serve", help="an OpenAI-compatible completions server over a Hugging Face model directory")
    s.add_argument("directory", help="a model directory (or a run directory with model/), e.g. the built-in model's")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    s.add_argument("--name", default=None, help="the model name clients ask for (default: the directory's name)")
    s.add_argument("--device", default="auto", help="auto (default), cpu or cuda[:N]")
    s.set_defaults(func=cmd_serve)
