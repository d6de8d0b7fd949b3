"""The HTML viewer without a browser: inert model text, embedded data, size on big trees."""

from __future__ import annotations

import json
import re
import time
from importlib import resources

from equivpruner.search.stats import SearchStats
from equivpruner.search.tree import MergeRecord, Tree
from equivpruner.viz import render_tree_html, tree_payload, write_tree_html

INJECTIONS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "<!-- <script>alert(1)</script>",
    "]]> & &amp; \u2028 \u2029 {braces} ${tpl}",
]
DATA_RE = re.compile(r'<script type="application/json" id="tree-data">(.*?)</script>', re.S)


def _hostile_tree() -> Tree:
    tree = Tree(question="What is 2 + 2? <script>alert(1)</script>", gold="4", answer="4")
    parent = tree.root
    for i, text in enumerate(INJECTIONS):
        child = tree.add_child(parent, text, visits=i + 1, value=0.5, tokens=7)
        child.merged.append(MergeRecord(text=text, stage="<b>symbolic</b>", probability=0.9))
        parent = child
    parent.terminal = True
    tree.correct = True
    tree.chosen_path = [n.id for n in tree.nodes[1:]]
    tree.meta = {"stats": SearchStats().to_dict(), "search": {"algorithm": "<mcts>"}}
    return tree


def _embedded(page: str) -> dict:
    blocks = DATA_RE.findall(page)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def test_model_text_is_inert():
    page = render_tree_html(_hostile_tree())
    low = page.lower()
    assert "alert(1)" in page  # the text is there, as data
    assert "<script>alert" not in low
    assert "<img" not in low
    assert "<!-- <script" not in low
    assert "<b>symbolic" not in low
    assert low.count("<script") == 2  # the JSON block and the viewer, nothing else
    assert low.count("</script") == 2
    assert "&lt;script&gt;alert(1)" in page  # the <title> is escaped


def test_embedded_json_round_trips():
    tree = _hostile_tree()
    data = _embedded(render_tree_html(tree))
    assert data == json.loads(json.dumps(tree_payload(tree)))
    assert [n["text"] for n in data["nodes"][1:]] == INJECTIONS
    assert data["nodes"][1]["merged"][0]["stage"] == "<b>symbolic</b>"
    assert data["question"] == tree.question
    assert data["chosen_path"] == tree.chosen_path
    assert data["correct"] is True
    assert data["stats"]["phases"]["expansion"]["generated_tokens"] == 0


def test_round_trip_through_tree_json(tmp_path):
    tree = _hostile_tree()
    tree.save(tmp_path / "tree.json")
    again = Tree.load(tmp_path / "tree.json")
    assert _embedded(render_tree_html(again)) == _embedded(render_tree_html(tree))


def test_non_finite_numbers_become_null():
    tree = Tree(question="q")
    tree.add_child(tree.root, "s", value=float("nan"), prior=float("inf"))
    data = _embedded(render_tree_html(tree))
    assert data["nodes"][1]["value"] is None
    assert data["nodes"][1]["prior"] is None


def test_bare_tree_renders():
    page = render_tree_html(Tree(question=""))
    data = _embedded(page)
    assert len(data["nodes"]) == 1
    assert data["stats"] == {} and data["model"] is None
    assert "<title>Search tree</title>" in page


def test_viewer_assets_never_parse_html():
    js = resources.files("equivpruner.viz").joinpath("viewer.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js
    assert "textContent" in js


def test_content_security_policy_pins_the_script():
    page = render_tree_html(_hostile_tree())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert "default-src 'none'" in csp
    assert "http" not in page.split("<body>", 1)[1]  # nothing loads from the network


def _big_tree(n_nodes: int) -> Tree:
    tree = Tree(question="A big tree")
    frontier = [tree.root]
    while len(tree.nodes) < n_nodes:
        parent = frontier.pop(0)
        for k in range(4):
            if len(tree.nodes) >= n_nodes:
                break
            text = f"Step {len(tree.nodes)}: compute {k} * 3 = {3 * k}. " * 3
            child = tree.add_child(parent, text, visits=k, value=0.1 * k, tokens=40)
            if k == 3:
                child.merged.append(
                    MergeRecord(text=text + " (again)", stage="exact", probability=1)
                )
            frontier.append(child)
    tree.chosen_path = [n.id for n in tree.path_to(tree.nodes[-1])]
    return tree


def test_two_thousand_nodes_render_fast_and_small(tmp_path):
    tree = _big_tree(2000)
    start = time.process_time()  # CPU seconds: a busy machine cannot fail this
    out = write_tree_html(tree, tmp_path / "sub" / "tree.html")
    elapsed = time.process_time() - start
    size = out.stat().st_size
    assert elapsed < 2.0
    assert size < 2_500_000
    data = _embedded(out.read_text(encoding="utf-8"))
    assert len(data["nodes"]) == 2000
    assert data["chosen_path"] == tree.chosen_path


def test_expansion_records_reach_the_viewer():
    tree = Tree(question="q")
    tree.root.expansion = {"samples": 2, "groups": 1, "stop": "no-new-group"}
    tree.add_child(tree.root, "a")
    data = _embedded(render_tree_html(tree))
    assert data["nodes"][0]["expansion"] == {"samples": 2, "groups": 1, "stop": "no-new-group"}
    assert data["nodes"][1]["expansion"] is None
    js = resources.files("equivpruner.viz").joinpath("viewer.js").read_text(encoding="utf-8")
    assert "n.expansion" in js and "stopped by" in js
    assert "e.rejected" in js and "arithmetic check" in js  # the check's discarded samples
