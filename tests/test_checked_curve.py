"""The curve with a checked vote, read from saved trees (`benchmarks/checked_curve.py`)."""

from __future__ import annotations

import json
from pathlib import Path

from equivpruner.bench.store import read_results
from equivpruner.search import Tree

from .bench_scripts import load_script

cc = load_script("checked_curve.py")


def bon_tree(chains: list[tuple[str, int]]) -> Tree:
    """A best-of-N tree: each chain one step and its boxed answer, tokens on the last step."""
    tree = Tree(question="What is 3 times 4?")
    for step, tokens in chains:
        node = tree.add_child(tree.root, step)
        answer = step.split("= ")[-1].rstrip(".")
        tree.add_child(node, f"\\boxed{{{answer}}}", terminal=True, tokens=tokens)
    return tree


FLAWED_FIRST = [("3 * 4 = 13.", 10), ("3 * 4 = 13.", 20), ("3 * 4 = 12.", 30)]


def test_the_checked_vote_drops_flawed_chains_once_a_clean_one_is_drawn():
    points = cc.curve([(bon_tree(FLAWED_FIRST), "12")], 3)
    assert [(p.n, p.plain, p.checked, p.tokens) for p in points] == [
        (1, 0, 0, 10),  # only a flawed chain: the checked vote falls back to it
        (2, 0, 0, 30),
        (3, 0, 1, 60),  # 13 wins the plain vote 2 to 1; the check leaves 12 alone
    ]


def test_arm_rows_count_rules_and_flaws(tmp_path):
    trees = tmp_path / "trees" / "bon3"
    trees.mkdir(parents=True)
    bon_tree(FLAWED_FIRST).save(trees / "p-0.json")
    record = {"arm": "bon3", "id": "p-0", "gold": "12", "status": "ok", "correct": False,
              "generated_tokens": 60, "tree": "trees/bon3/p-0.json"}  # fmt: skip
    row = cc.arm_row(tmp_path, [record], "bon3")
    assert (row.problems, row.tokens, row.path, row.vote, row.checked_vote) == (1, 60, 0, 0, 1)
    assert (row.flawed_right, row.flawed_wrong, row.clean_right, row.clean_wrong) == (0, 2, 1, 0)
    vanilla = {**record, "arm": "none", "generated_tokens": 120, "tree": "trees/none/p-0.json"}
    (tmp_path / "results.jsonl").write_text(
        "\n".join(json.dumps(r) for r in (vanilla, record)) + "\n"
    )
    (tmp_path / "trees" / "none").mkdir()
    bon_tree(FLAWED_FIRST[:1]).save(tmp_path / "trees" / "none" / "p-0.json")
    lines = cc.report(tmp_path, "bon3", 3)
    assert lines[2] == "| 1 | 0 | 0 | 0.083 |" and lines[4] == "| 3 | 0 | 1 | 0.500 |"
    assert any(line.startswith("| `bon3` | 1 | 0.500 | 0 | 0 | 1 | 0 (N = 3) | 1 (N = 3) |")
               for line in lines)  # fmt: skip


def test_the_checks_verdicts_on_the_committed_dev_trees_stay_as_measured():
    """RESULTS §18 and the second confirmation run (`confirm-b-40.yaml`, declared with this
    check) rest on these verdicts: a change to what counts as false arithmetic changes the
    arm mid-run. Change the check only with a new arm name and a new declaration."""
    out = Path(__file__).resolve().parents[1] / "benchmarks" / "runs" / "adaptive-40b"
    records = list(read_results(out / "results.jsonl").values())
    row = cc.arm_row(out, records, "none")
    assert (row.flawed_right, row.flawed_wrong, row.clean_right, row.clean_wrong) == (
        0, 93, 154, 147,
    )  # fmt: skip
    assert (row.path, row.vote, row.checked_vote) == (15, 18, 19)
