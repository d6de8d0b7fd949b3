"""A self-contained HTML viewer for one search tree.

The tree travels as inert JSON inside `<script type="application/json">`; the inlined
viewer script builds the DOM lazily and sets every piece of model text with `textContent`.
A hash-pinned Content-Security-Policy blocks any other script, inline handler or fetch.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from importlib import resources
from pathlib import Path

from ..search.tree import Node, Tree

# Characters that could end the JSON block or open a comment; the JSON stays valid.
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header id="summary"></header>
<nav id="controls">
<input id="search" type="search" placeholder="Filter steps by text" autocomplete="off">
<span id="search-count" aria-live="polite"></span>
<button type="button" id="expand-all">Expand all</button>
<button type="button" id="collapse-all">Collapse all</button>
<button type="button" id="show-chosen">Chosen path</button>
</nav>
<main id="tree" role="tree"></main>
<noscript>This viewer needs JavaScript to draw the tree.</noscript>
<script type="application/json" id="tree-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _finite(value):
    """Replace NaN and infinities (which JSON.parse rejects) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _node_payload(node: Node) -> dict:
    merged = [
        {
            "text": m.text,
            "stage": m.stage,
            "probability": m.probability,
            "tokens": m.tokens,
            "prior": m.prior,
            "value": m.value,
            "terminal": m.terminal,
        }
        for m in node.merged
    ]
    return {
        "id": node.id,
        "text": node.text,
        "parent": node.parent,
        "children": list(node.children),
        "depth": node.depth,
        "prior": node.prior,
        "visits": node.visits,
        "value": node.value,
        "q": node.q if node.visits else None,
        "terminal": node.terminal,
        "finish_reason": node.finish_reason,
        "tokens": node.tokens,
        "merged": merged,
        "expansion": node.expansion,  # samples taken, groups kept, stop reason (or None)
    }


def tree_payload(tree: Tree) -> dict:
    """The data the viewer reads: problem, outcome, accounting and every node."""
    meta = tree.meta or {}
    payload = {
        "question": tree.question,
        "answer": tree.answer,
        "gold": tree.gold,
        "correct": tree.correct,
        "chosen_path": list(tree.chosen_path),
        "stats": meta.get("stats") or {},
        "search": meta.get("search") or {},
        "model": meta.get("model"),
        "nodes": [_node_payload(n) for n in tree.nodes],
    }
    return _finite(payload)


def embed_json(data) -> str:
    """JSON safe to place inside a `<script>` element: no `<`, `>` or `&` survives."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.translate(str.maketrans(_JSON_ESCAPES))


def _script_hash(js: str) -> str:
    digest = hashlib.sha256(js.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_tree_html(tree: Tree) -> str:
    """One self-contained HTML page (inline CSS, JS and data) showing `tree`."""
    js, css = _asset("viewer.js"), _asset("viewer.css")
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("viewer assets must not close their own element")
    csp = (
        "default-src 'none'; "
        f"script-src {_script_hash(js)}; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    question = " ".join(tree.question.split())
    title = "Search tree" + (f": {question[:80]}" if question else "")
    return _PAGE.format(
        csp=csp,
        title=html.escape(title),
        css=css,
        data=embed_json(tree_payload(tree)),
        js=js,
    )


def write_tree_html(tree: Tree, path: str | Path) -> Path:
    """Write the viewer page for `tree` to `path` (parent folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_tree_html(tree), encoding="utf-8")
    return out
