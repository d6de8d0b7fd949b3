"""The tree viewer against hostile trees and outputs: one `error:` line naming the file, no
traceback, no page written; and the deep tree it must still draw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli_helpers import chain_tree, one_error_line, real_cli, write_tree

DEV_FULL = Path("/dev/full")


def test_view_onto_a_full_disk_names_the_file(tmp_path):
    if not DEV_FULL.exists():
        pytest.skip("no /dev/full here")
    write_tree(tmp_path / "t.json", chain_tree(3))
    line = one_error_line(real_cli("view", str(tmp_path / "t.json"), "-o", str(DEV_FULL)), 1)
    assert line == "error: --out /dev/full: no space left on the device"


# --- trees the viewer refuses (and the deep one it draws) --------------------------------


def _with(change):
    data = chain_tree(4)
    change(data)
    return data


BAD_TREES = [
    ("no nodes", _with(lambda d: d.pop("nodes")), "'nodes' must be a non-empty list"),
    ("nodes as text", _with(lambda d: d.update(nodes="abc")), "'nodes' must be a non-empty list"),
    ("a top-level list", [1, 2, 3], "expected a saved tree (a JSON object), got list"),
    ("a null question", _with(lambda d: d.update(question=None)), "'question' must be text"),
    ("a cycle", _with(lambda d: d["nodes"][3]["children"].append(1)), "reached twice"),
    ("a child of itself", _with(lambda d: d["nodes"][2]["children"].append(2)),
     "reached twice"),
    ("a dangling child", _with(lambda d: d["nodes"][3]["children"].append(99)),
     "lists child 99, which is not a node"),
    ("a wrong parent", _with(lambda d: d["nodes"][2].update(parent=0)), "names parent 0"),
    ("an unreached node", _with(lambda d: d["nodes"][2].update(children=[])),
     "node 3 is not reached"),
    ("not JSON", "{nodes", "invalid JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "says"), BAD_TREES, ids=[c[0] for c in BAD_TREES])
def test_view_refuses_a_broken_tree_and_writes_nothing(tmp_path, name, data, says):
    tree = tmp_path / "tree.json"
    tree.write_text(data if isinstance(data, str) else json.dumps(data))
    out = tmp_path / "t.html"
    line = one_error_line(real_cli("view", str(tree), "-o", str(out)))
    assert line.startswith(f"error: {tree}") and says in line, line
    assert not out.exists()


def test_view_draws_a_twenty_thousand_stepchain_tree(tmp_path):
    tree = write_tree(tmp_path / "tree.json", chain_tree(20_000))
    result = real_cli("view", str(tree), "-o", str(tmp_path / "t.html"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.html").stat().st_size > 20_000 * 20
