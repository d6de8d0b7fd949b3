"""Tree search over reasoning steps: one algorithm per module, one shared config."""

from .base import SearchConfig, SearchEnv, SearchResult
from .beam import BeamSearch
from .best_of_n import BestOfN
from .greedy import GreedySearch
from .mcts import MCTS
from .tree import MergeRecord, Node, Tree

ALGORITHMS = {"mcts": MCTS, "beam": BeamSearch, "bon": BestOfN, "greedy": GreedySearch}


def make_search(name: str):
    """An algorithm by name: mcts, beam, bon, greedy or sampled (greedy path, sampled steps)."""
    if name == "sampled":
        return GreedySearch(sampled=True)
    if name not in ALGORITHMS:
        raise ValueError(
            f"unknown search {name!r}; choose from {', '.join([*ALGORITHMS, 'sampled'])}"
        )
    return ALGORITHMS[name]()


__all__ = [
    "ALGORITHMS",
    "MCTS",
    "BeamSearch",
    "BestOfN",
    "GreedySearch",
    "MergeRecord",
    "Node",
    "SearchConfig",
    "SearchEnv",
    "SearchResult",
    "Tree",
    "make_search",
]
