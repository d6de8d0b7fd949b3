"""Tree search over reasoning steps: one algorithm per module, one shared config."""

from .base import SearchConfig, SearchEnv, SearchResult
from .beam import BeamSearch
from .best_of_n import BestOfN
from .chains import SharedChains
from .greedy import GreedySearch
from .mcts import MCTS
from .tree import MergeRecord, Node, Tree

ALGORITHMS = {
    "mcts": MCTS,
    "beam": BeamSearch,
    "bon": BestOfN,
    "chains": SharedChains,
    "greedy": GreedySearch,
}


def make_search(name: str):
    """An algorithm by name: mcts, beam, bon, chains, greedy or sampled (greedy path,
    sampled steps)."""
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
    "SharedChains",
    "Tree",
    "make_search",
]
