"""Monte Carlo step labels from a tree, and the sibling ranking they score values by."""

from __future__ import annotations

from equivpruner.search import Tree
from equivpruner.value.labels import sibling_ranking, subtree_outcomes


def labelled_tree() -> Tree:
    """Root -> A (two solutions: 5 right, 7 wrong), B (one solution, 7 wrong), C (none)."""
    tree = Tree("What is 2 + 3?")
    a = tree.add_child(tree.root, "2 + 3 = 5", value=0.9)
    b = tree.add_child(tree.root, "2 + 3 = 7", value=0.2)
    tree.add_child(tree.root, "Let us think.", value=0.5)
    tree.add_child(a, "\\boxed{5}", terminal=True, value=0.5)
    tree.add_child(a, "\\boxed{7}", terminal=True, value=0.5)
    tree.add_child(b, "\\boxed{7}", terminal=True, value=0.5)
    return tree


def test_outcomes_count_the_right_solutions_below_each_node():
    out = subtree_outcomes(labelled_tree(), "5")
    assert (out[0].right, out[0].total) == (1, 3)
    assert (out[1].right, out[1].total, out[1].rate) == (1, 2, 0.5)
    assert (out[2].right, out[2].total) == (0, 1)
    assert 3 not in out  # no complete solution below it: no label


def test_ranking_counts_pairs_ordered_as_the_labels():
    tree = labelled_tree()
    out = subtree_outcomes(tree, "5")
    good = sibling_ranking(tree, out, lambda n: n.value)
    # siblings with different labels: (A, B) at the root, (5, 7) under A
    assert good.pairs == 2
    assert good.agree == 1.5 and good.share == 0.75  # A over B right; the answers tie
    flipped = sibling_ranking(tree, out, lambda n: -n.value)
    assert flipped.agree == 0.5
    unscored = sibling_ranking(tree, out, lambda n: None if n.terminal else n.value)
    assert unscored.pairs == 1 and unscored.agree == 1.0  # unscored steps are left out
