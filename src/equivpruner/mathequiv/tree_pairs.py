"""Sibling pairs from saved search trees (`solve --save-tree`, `bench` runs).

Every expanded node gives the pairs of its children's distinct texts, pruned siblings
(recorded in each survivor's `merged`) included, so a pruned run yields the same pairs a
vanilla one would. Trees of test problems give evaluation pairs: their rows carry
`split="test"`, which training refuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..search.tree import Node, Tree
from .pairs import PairRecord, dedup_pairs, sibling_pairs


def sibling_texts(tree: Tree, node: Node) -> list[str]:
    """The distinct texts sampled when `node` was expanded, in generation order."""
    texts: list[str] = []
    for child in tree.children(node):
        for text in (child.text, *(m.text for m in child.merged)):
            if text.strip() and text not in texts:
                texts.append(text)
    return texts


def tree_pairs(tree: Tree, problem_id: str, split: str, source: str = "") -> list[PairRecord]:
    """One record per pair of distinct sibling texts of every expansion of `tree`."""
    model = str(tree.meta.get("model", "")) if isinstance(tree.meta, dict) else ""
    rows = []
    for node in tree.nodes:
        rows += sibling_pairs(
            tree.question, tree.steps_to(node), sibling_texts(tree, node), "search-tree",
            source=source, model=model, problem_id=f"{split}:{problem_id}", split=split,
        )  # fmt: skip
    return rows


def pairs_from_tree_files(paths: Iterable[str | Path], split: str) -> list[PairRecord]:
    """Deduplicated pairs of many tree files; the problem id is the file's stem."""
    rows: list[PairRecord] = []
    for path in paths:
        path = Path(path)
        source = path.stem.rsplit("-", 1)[0]
        rows += tree_pairs(Tree.load(path), path.stem, split, source)
    return dedup_pairs(rows)
