"""Tree search over reasoning steps: the game search's `Tree`, `select` and `backup`, with a
language model proposing the children.

    results = mcts.search_text(task, problems, policy, mcts.TextSearchConfig(budget=1024), seed=0)

A node is a partial solution (the lines after the prompt), a child one distinct next step. Only
expansion differs from the game driver (mcts/search.py):

- one player: every node's player is 0, so values keep their sign; a right answer is +1, a
  wrong one -1 (the range the kernels' virtual loss and first-play urgency assume);
- expanding a node samples K steps from the policy (`samples`); steps the rules reject are
  dropped like illegal moves, and steps with the same canonical key (`Task.step(...).key`: for
  Countdown the numbers left, so `3+5` and `5+3` are one child) merge, in order of first
  appearance, into up to K child slots. A slot is the kernels' "action"; its text, count,
  log-probability and tokens live in a side table, as OpenSpiel states do for games;
- priors as in Sampled MuZero (Hubert et al. 2021): each distinct step's share of the K samples,
  corrected by pi/beta when sampled at a temperature other than 1 (`priors=empirical`), not pi
  renormalised over the distinct steps, which counts a likely step twice (`priors=renormalised`,
  kept to compare);
- a leaf's value comes from the policy's value head where it has a trained one (a side file of
  the model directory, engine/llm/value.py), else from a greedy rollout to a final answer,
  checked, where the task checks at search time (Countdown: the problem itself defines a
  solution), its tokens charged; else 0 (`value=none`: with a reference answer only, asking the
  checker would leak the answer). A
  terminal's value is the checker's where the task checks at search time, else 0; the depth
  cap (`Task.max_steps`) makes a node terminal and wrong;
- the budget is generated tokens per problem: every sample is charged, dropped and duplicate
  ones too, and every rollout token. A tree takes no more leaves once its tokens reach the
  budget (the expansion in flight may go past it; results report what was spent). Gumbel's
  sequential halving is planned from the budget: as many simulations as the budget buys at
  the cost of the root's own expansion.

With a checker at search time the search stops at the first right solution, found among the
steps sampled at an expansion (as the game search's win check solves a leaf whose mover wins at
once), at a terminal, or by a rollout. Without one, the answer is the final answer of the most-visited path
(`answer=visits`) or a visit-weighted vote over the terminals reached (`answer=vote`), checked
only afterwards by the harness.

Many problems search in lockstep: each wave is one `select` over every tree, one batched
`propose` for every leaf that needs children, one batch of rollouts, one `backup`. Seeds depend
on (seed, problem, node) only, so a problem's tree is the same alone and in a batch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from games.math.task import Problem, Task
from mcts import kernels as K
from mcts.config import KernelParams
from mcts.rollout import ROWS_PER_CALL, rollouts, step_seed
from mcts.search import halving_table
from mcts.settings import setting
from mcts.tree import Expansion, Tree, Wave

RIGHT, WRONG = 1.0, -1.0


@dataclass
class TextSearchConfig:
    algorithm: str = setting("gumbel", "gumbel (root Gumbel-top-k with sequential halving) or puct")
    budget: int = setting(1024, "generated tokens per problem (every sample and rollout token charged)")
    samples: int = setting(8, "steps sampled at each expansion (K); a node has up to K distinct children")
    temperature: float = setting(1.0, "sampling temperature of the steps; priors are corrected back to temperature 1")
    priors: str = setting("empirical", "empirical (each distinct step's share of the K samples, Sampled MuZero) "
                                       "or renormalised (pi over the distinct steps)")
    value: str = setting("auto", "leaf values: head (the policy's value head), rollout (a greedy completion, "
                                 "checked), none (0), or auto (the head where the policy has a trained one, else "
                                 "rollout where the task checks at search time, else none)")
    answer: str = setting("visits", "without a checker at search time: visits (the most visited path's answer) "
                                    "or vote (a visit-weighted vote over the terminals reached)")
    leaves_per_wave: int = setting(1, "leaves per tree per wave; virtual loss keeps them apart")
    max_step_tokens: int = setting(48, "tokens a step may take before it is cut off (and dropped)")
    c_init: float = setting(1.25, "PUCT exploration: c(N) = c_init + log((N + c_base + 1) / c_base)")
    c_base: float = setting(19652.0, "PUCT: visits at which exploration starts to grow")
    fpu_reduction: float = setting(0.25, "PUCT: an unvisited child is worth its parent's value minus this * "
                                         "sqrt(visited prior)")
    max_considered: int = setting(16, "Gumbel: root steps considered (at most `samples` exist)")
    gumbel_scale: float = setting(1.0, "Gumbel: noise scale (0: the top steps by prior)")
    c_visit: float = setting(50.0, "Gumbel: sigma(q) = (c_visit + max N) * c_scale * q")
    c_scale: float = setting(1.0, "Gumbel: see c_visit")

    def __post_init__(self):
        problems = []
        if self.algorithm not in ("puct", "gumbel"):
            problems.append(f"algorithm must be puct or gumbel, not {self.algorithm!r}")
        if self.budget < 1 or self.samples < 1 or self.leaves_per_wave < 1 or self.max_step_tokens < 1:
            problems.append("budget, samples, leaves_per_wave and max_step_tokens must be at least 1")
        if self.temperature <= 0:
            problems.append("temperature must be above 0 (the steps are sampled)")
        if self.priors not in ("empirical", "renormalised"):
            problems.append(f"priors must be empirical or renormalised, not {self.priors!r}")
        if self.value not in ("auto", "head", "rollout", "none"):
            problems.append(f"value must be auto, head, rollout or none, not {self.value!r}")
        if self.answer not in ("visits", "vote"):
            problems.append(f"answer must be visits or vote, not {self.answer!r}")
        if problems:
            raise ValueError("bad search settings: " + "; ".join(problems) + ".")

    def kernel_params(self, num_simulations: int) -> KernelParams:
        return KernelParams(num_simulations=int(num_simulations), leaves=int(self.leaves_per_wave),
                            algorithm=K.GUMBEL if self.algorithm == "gumbel" else K.PUCT, c_init=float(self.c_init),
                            c_base=float(self.c_base), fpu_reduction=float(self.fpu_reduction), fpu_value=math.nan,
                            c_visit=float(self.c_visit), c_scale=float(self.c_scale))


@dataclass
class Slot:
    """One distinct step proposed at a node: a child slot."""

    line: str  # the step as it enters the solution (the rules' result appended)
    key: str  # canonical key: samples with equal keys merged here
    done: bool  # the solution ends with this step
    answer: str | None  # its final answer, when it ends with one
    count: int  # how many of the K samples were this step
    logprob: float  # the first such sample's log-probability at temperature 1
    tokens: int  # the first such sample's token count


@dataclass
class TextTree:
    """B trees plus their side tables, for reading after the search (`render_tree`)."""

    tree: Tree
    text: list[dict[int, str]]  # node -> the solution so far
    depth: list[dict[int, int]]  # node -> steps taken
    slots: list[dict[int, list[Slot]]]  # node -> its children's steps, slot order
    answers: list[dict[int, str | None]]  # terminal node -> its final answer
    tokens: np.ndarray  # (B,) generated tokens charged
    prompt_tokens: np.ndarray  # (B,) prompt tokens processed
    found: list[tuple[str, str] | None]  # a checked right (solution, answer), once found


@dataclass
class TextResult:
    problem: Problem
    answer: str | None
    solution: str
    found: bool  # a right solution was found and checked during the search
    tokens: int
    prompt_tokens: int
    simulations: int
    nodes: int
    tree: TextTree = field(repr=False)
    index: int = 0  # this problem's tree in `tree`


def distinct_steps(task: Task, problem: Problem, text: str, proposals, temperature: float, priors: str):
    """The legal, distinct steps among `proposals` (in order of first appearance) and their
    priors: Sampled MuZero's count share, times pi / beta when sampled at temperature T != 1
    (beta ~ pi^(1/T), so pi / beta ~ pi^(1 - 1/T)); or pi renormalised over the distinct steps."""
    slots: dict[str, Slot] = {}
    for prop in proposals:
        ended = prop.text == "" or any(prop.text.endswith(s) for s in task.stop)
        step = task.step(problem, text, prop.text) if ended else None
        if step is None or not step.legal:
            continue
        if step.key in slots:
            slots[step.key].count += 1
        else:
            slots[step.key] = Slot(step.line, step.key, step.done, step.answer, 1, prop.logprob, prop.tokens)
    out = list(slots.values())
    if not out:
        return out, np.zeros(0)
    logp = np.array([s.logprob for s in out], np.float64)
    if priors == "renormalised":
        weight = np.exp(logp - logp.max())
    else:
        weight = np.array([s.count for s in out], np.float64) * np.exp((1.0 - 1.0 / temperature) * (logp - logp.max()))
    return out, weight / weight.sum()


def search_text(task: Task, problems: list[Problem], policy, config: TextSearchConfig | None = None,
                seed: int = 0, progress=None) -> list[TextResult]:
    """Search every problem with its own tree, all in lockstep (see the module docstring)."""
    config = config or TextSearchConfig()
    driver = _Driver(task, problems, policy, config, seed)
    driver.run(progress)
    return driver.results()


class _Driver:
    def __init__(self, task: Task, problems: list[Problem], policy, config: TextSearchConfig, seed: int):
        self.task, self.problems, self.policy, self.config, self.seed = task, list(problems), policy, config, seed
        B, A = len(self.problems), config.samples
        has_head = getattr(policy, "value_head", None) is not None
        if config.value == "head" and not has_head:
            raise ValueError(f"value=head needs a policy with a value head; {getattr(policy, 'name', 'this policy')} "
                             f"has none (expert iteration trains one).")
        self.head_values = config.value == "head" or (config.value == "auto" and has_head)
        self.rollout_values = not self.head_values and (
            config.value == "rollout" or (config.value == "auto" and task.checks_at_search_time))
        self.t = TextTree(Tree.empty(B, 64, A), [{0: ""} for _ in range(B)], [{0: 0} for _ in range(B)],
                          [{} for _ in range(B)], [{} for _ in range(B)], np.zeros(B, np.int64),
                          np.zeros(B, np.int64), [None] * B)
        self.planned = np.zeros(B, np.int64)

    # ---- expansion ----------------------------------------------------------------------------
    def _terminal_value(self, b: int, answer: str | None, text: str) -> float:
        if not self.task.checks_at_search_time:
            return 0.0  # a reference answer only: never asked during the search
        if self.task.check_answer(self.problems[b], answer):
            self.t.found[b] = self.t.found[b] or (text, answer)
            return RIGHT
        return WRONG

    def _expand(self, items: list[tuple[int, int]]):
        """Children and values of nodes (b, node) that are not terminal: one batched propose for
        all of them, then one batch of greedy rollouts for those with children."""
        cfg, t = self.config, self.t
        n, A = len(items), cfg.samples
        priors, legal = np.zeros((n, A), np.float32), np.zeros((n, A), bool)
        terminal, values = np.zeros(n, bool), np.zeros(n, np.float32)
        per_call = max(1, ROWS_PER_CALL // A)
        for start in range(0, n, per_call):
            chunk = items[start:start + per_call]
            prefixes = [self.problems[b].prompt + t.text[b][node] for b, node in chunk]
            seeds = [step_seed(self.seed, self.problems[b].id + "#tree", node, 0) for b, node in chunk]
            out = self.policy.propose(prefixes, A, self.task.stop, seeds, cfg.temperature, cfg.max_step_tokens)
            for i, ((b, node), cands) in enumerate(zip(chunk, out), start):
                t.tokens[b] += sum(p.tokens for p in cands.proposals)
                t.prompt_tokens[b] += cands.prompt_tokens
                slots, p = distinct_steps(self.task, self.problems[b], t.text[b][node], cands.proposals,
                                          cfg.temperature, cfg.priors)
                t.slots[b][node] = slots
                legal[i, :len(slots)] = True
                priors[i, :len(slots)] = p
                if not slots:  # nothing legal was proposed: a dead end
                    terminal[i], values[i] = True, WRONG
                    t.answers[b][node] = None
                elif self.task.checks_at_search_time:  # a sampled step that ends right: solved here
                    for slot in slots:               # (the game search's win check, for one player)
                        if slot.done and self._terminal_value(b, slot.answer, t.text[b][node] + slot.line) == RIGHT:
                            terminal[i], values[i] = True, RIGHT
                            break
        live = [i for i in range(n) if not terminal[i]]
        if self.head_values and live:
            prefixes = [self.problems[items[i][0]].prompt + t.text[items[i][0]][items[i][1]] for i in live]
            values[live] = self.policy.value(prefixes)
            for i, prefix in zip(live, prefixes):  # the head reads each prefix once: its prompt tokens
                t.prompt_tokens[items[i][0]] += len(self.policy.encode(prefix))
        if self.rollout_values and live:
            probs = [self.problems[items[i][0]] for i in live]
            starts = [(t.text[items[i][0]][items[i][1]], t.depth[items[i][0]][items[i][1]]) for i in live]
            done = rollouts(self.task, probs, self.policy, 1, 0.0, self.seed, cfg.max_step_tokens, starts=starts)
            for i, (r,) in zip(live, done):
                b = items[i][0]
                t.tokens[b] += r.tokens
                t.prompt_tokens[b] += r.prompt_tokens
                values[i] = self._terminal_value(b, r.answer, r.text) if r.legal else WRONG
        return priors, legal, terminal, values

    def _leaf(self, b: int, node: int):
        """A new node's text from its parent's slot; (terminal, value) when it needs no expansion."""
        t = self.t
        up, a = int(t.tree.parent[b, node]), int(t.tree.action[b, node])
        slot = t.slots[b][up][a]
        text = t.text[b][up] + slot.line
        t.text[b][node], t.depth[b][node] = text, t.depth[b][up] + 1
        if slot.done:
            t.answers[b][node] = slot.answer
            return True, self._terminal_value(b, slot.answer, text)
        if t.depth[b][node] >= self.task.max_steps:
            t.answers[b][node] = None
            return True, WRONG
        return False, 0.0

    # ---- the search ---------------------------------------------------------------------------
    def _roots(self) -> None:
        tree, B = self.t.tree, len(self.problems)
        priors, legal, terminal, values = self._expand([(b, 0) for b in range(B)])
        tree.num_nodes[:] = 1
        tree.visits[:, 0] = 1
        tree.expanded[:, 0] = True
        tree.value_sum[:, 0] = values
        tree.raw_value[:, 0] = values
        tree.prior[:, 0] = priors
        tree.legal[:, 0] = legal
        tree.solved[:, 0] = terminal
        tree.solved_value[:, 0] = np.where(terminal, values, 0)
        cost = np.maximum(self.t.tokens, 1)
        if self.config.algorithm == "gumbel":
            self.planned[:] = np.maximum(1, (self.config.budget - cost) // cost)
            tree.considered[:] = np.minimum(legal.sum(1), self.config.max_considered)
            for b, problem in enumerate(self.problems):
                rng = np.random.default_rng(step_seed(self.seed, problem.id + "#gumbel", 0, 0))
                g = rng.gumbel(size=legal.shape[1]).astype(np.float32) * self.config.gumbel_scale
                tree.gumbel[b] = np.where(legal[b], g, 0)
        else:
            self.planned[:] = self.config.budget  # a cap: every simulation that expands costs a token or more

    def _active(self) -> np.ndarray:
        t = self.t
        return (np.array([f is None for f in t.found]) & (t.tokens < self.config.budget)
                & (t.tree.sims_done < self.planned) & ~t.tree.solved[:, 0])

    def run(self, progress=None) -> None:
        cfg = self.config
        self._roots()
        cap = int(self.planned.max())
        params = cfg.kernel_params(cap)
        S = cap if cfg.algorithm == "gumbel" else 1
        schedule = np.zeros((len(self.problems), S), np.int32)
        if cfg.algorithm == "gumbel":
            for b in range(len(self.problems)):
                row = halving_table(cfg.max_considered, int(self.planned[b]))[self.t.tree.considered[b]]
                schedule[b, :len(row)] = row
                schedule[b, len(row):] = row[-1] if len(row) else 0
        wave = Wave.empty(len(self.problems), cfg.leaves_per_wave)
        index = np.full((len(self.problems), cfg.leaves_per_wave), -1, np.int64)
        while True:
            active = self._active()
            if not active.any():
                break
            t = self.t
            t.tree.sims_done[~active] = cap  # finished trees take no more leaves
            if int(t.tree.num_nodes.max()) + cfg.leaves_per_wave >= t.tree.capacity:
                t.tree = t.tree.grown(2 * t.tree.capacity)
            K.select(t.tree, params, schedule, wave)
            b_idx, k_idx = np.nonzero(wave.kind == K.EXPAND)
            index.fill(-1)
            index[b_idx, k_idx] = np.arange(len(b_idx))
            n = len(b_idx)
            priors, legal = np.zeros((n, cfg.samples), np.float32), np.zeros((n, cfg.samples), bool)
            terminal, values = np.zeros(n, bool), np.zeros(n, np.float32)
            todo = []
            for i, (b, k) in enumerate(zip(b_idx.tolist(), k_idx.tolist())):
                terminal[i], values[i] = self._leaf(b, int(wave.node[b, k]))
                if not terminal[i]:
                    todo.append(i)
            if todo:
                p, lg, term, v = self._expand([(int(b_idx[i]), int(wave.node[b_idx[i], k_idx[i]])) for i in todo])
                priors[todo], legal[todo], terminal[todo], values[todo] = p, lg, term, v
            K.backup(t.tree, wave, Expansion(index, priors, legal, np.zeros(n, np.int8), terminal, values))
            if progress:
                progress(int((~self._active()).sum()), len(self.problems))

    # ---- answers ------------------------------------------------------------------------------
    def results(self) -> list[TextResult]:
        out = []
        t = self.t
        for b, problem in enumerate(self.problems):
            if t.found[b] is not None:
                solution, answer = t.found[b]
            else:
                node = self._pick(b)
                solution, answer = (t.text[b][node], t.answers[b].get(node)) if node is not None else ("", None)
            out.append(TextResult(problem, answer, solution, t.found[b] is not None, int(t.tokens[b]),
                                  int(t.prompt_tokens[b]), int(t.tree.visits[b, 0]) - 1, int(t.tree.num_nodes[b]),
                                  t, b))
        return out

    def _pick(self, b: int) -> int | None:
        """The terminal whose answer the search gives: the end of the most visited path, or the
        most visited terminal of the answer with the most visits (`answer=vote`)."""
        tree, t = self.t.tree, self.t
        terminals = [n for n in t.answers[b] if t.answers[b][n] is not None]
        if self.config.answer == "visits":
            node = 0
            while True:
                kids = [c for c in tree.children[b, node] if c >= 0 and tree.visits[b, c] > 0]
                if not kids:
                    break
                node = int(max(kids, key=lambda c: (tree.visits[b, c], -c)))
            if node in t.answers[b] and t.answers[b][node] is not None:
                return node
        if not terminals:
            return None
        votes: dict = defaultdict(int)
        keys = {n: self.task.vote_key(self.problems[b], t.answers[b][n]) for n in terminals}
        for n in terminals:
            if keys[n] is not None:
                votes[keys[n]] += int(tree.visits[b, n])
        if not votes:
            return None
        best = max(votes, key=lambda k: votes[k])
        return max((n for n in terminals if keys[n] == best), key=lambda n: (tree.visits[b, n], -n))


def render_tree(result: TextResult, max_depth: int = 4, min_visits: int = 1) -> str:
    """A problem's tree as indented lines: each step with its visits, mean value, prior and,
    at terminals, its answer, children most visited first."""
    t, b = result.tree, result.index
    tree = t.tree
    lines = [f"{result.problem.id}: {result.simulations} simulations, {result.nodes} nodes, {result.tokens} tokens"]

    def walk(node: int, depth: int) -> None:
        if depth >= max_depth:
            return
        slots = t.slots[b].get(node, [])
        kids = [(a, int(tree.children[b, node, a])) for a in range(len(slots))]
        kids.sort(key=lambda x: -(tree.visits[b, x[1]] if x[1] >= 0 else 0))
        for a, child in kids:
            visits = int(tree.visits[b, child]) if child >= 0 else 0
            if visits < min_visits:
                continue
            q = tree.value_sum[b, child] / max(visits, 1)
            slot = slots[a]
            tail = ""
            if child in t.answers[b]:
                tail = f"  -> {t.answers[b][child]}" + (f" ({'right' if q >= RIGHT else 'wrong'})"
                                                          if tree.solved[b, child] and q != 0 else "")
            lines.append(f"{'  ' * (depth + 1)}{slot.line.rstrip() or '<end>'}  N={visits} Q={q:+.2f} P={tree.prior[b, node, a]:.2f} "
                         f"x{slot.count}{tail}")
            walk(child, depth + 1)

    walk(0, 0)
    return "\n".join(lines)
