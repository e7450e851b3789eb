"""The search: numba tree kernels, the batched driver and the evaluator protocol.

    result = mcts.search(game, states, evaluator, mcts.SearchConfig(num_simulations=200), rng=0)
    results = mcts.search_text(task, problems, policy, mcts.TextSearchConfig(budget=1024), seed=0)
"""

from games import numba_cache  # noqa: F401  (first: numba's cache directory before any kernel)
from mcts.evaluators import Evaluator, RolloutEvaluator, UniformEvaluator
from mcts.config import SearchConfig
from mcts.search import SearchResult, SearchTree, search
from mcts.text import TextResult, TextSearchConfig, render_tree, search_text

__all__ = ["search", "SearchConfig", "SearchResult", "SearchTree", "Evaluator", "UniformEvaluator", "RolloutEvaluator",
           "search_text", "TextSearchConfig", "TextResult", "render_tree"]
