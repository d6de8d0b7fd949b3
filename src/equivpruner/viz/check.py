"""A saved tree read for the viewer: any file is either a valid tree or one clear error.

The viewer walks children from the root and parents up from a match, so a tree it draws
must be one tree: node k has id k, every child id names a node, every node but the root is
the child of exactly one node, which is its parent, and nothing is reached twice (no
cycle). Deep trees are fine (the checks and the viewer walk them without recursion).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..search.tree import TREE_FORMAT, Tree


class TreeFileError(ValueError):
    """The file is not a tree the viewer can draw (the message names it and says why)."""


def _kind(value) -> str:
    return "null" if value is None else "text" if isinstance(value, str) else type(value).__name__


def _is_id(value, size: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size


def _check_node(k: int, raw, size: int) -> None:
    if not isinstance(raw, dict):
        raise ValueError(f"node {k} is {_kind(raw)}, not an object")
    if raw.get("id") != k or not _is_id(raw.get("id"), size):
        raise ValueError(f"node {k} has id {raw.get('id')!r} (node k must have id k)")
    if not isinstance(raw.get("text"), str):
        raise ValueError(f"node {k}: 'text' must be text, got {_kind(raw.get('text'))}")
    children = raw.get("children", [])
    if not isinstance(children, list):
        raise ValueError(f"node {k}: 'children' must be a list, got {_kind(children)}")
    for child in children:
        if not _is_id(child, size):
            raise ValueError(f"node {k} lists child {child!r}, which is not a node of the tree")
    merged = raw.get("merged", [])
    if not isinstance(merged, list) or not all(isinstance(m, dict) for m in merged):
        raise ValueError(f"node {k}: 'merged' must be a list of objects")


def _check_shape(nodes: list) -> None:
    """One tree under node 0: each node reached once, from the parent it names."""
    if nodes[0].get("parent") is not None:
        raise ValueError("node 0 (the root) has a parent")
    reached = [False] * len(nodes)
    reached[0] = True
    todo = [0]
    while todo:
        k = todo.pop()
        for child in nodes[k].get("children", []):
            if reached[child]:
                raise ValueError(f"node {child} is reached twice (a cycle or a shared child)")
            if nodes[child].get("parent") != k:
                raise ValueError(
                    f"node {child} is a child of node {k} but names parent "
                    f"{nodes[child].get('parent')!r}"
                )
            reached[child] = True
            todo.append(child)
    lost = [k for k, seen in enumerate(reached) if not seen]
    if lost:
        raise ValueError(f"node {lost[0]} is not reached from the root (parent or children wrong)")


def check_tree_data(data) -> None:
    """Raise ValueError (one line) unless `data` is a tree the viewer can draw."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a saved tree (a JSON object), got {_kind(data)}")
    if data.get("format") != TREE_FORMAT:
        raise ValueError(f"not an equivpruner tree (format {data.get('format')!r})")
    if not isinstance(data.get("question"), str):
        raise ValueError(f"'question' must be text, got {_kind(data.get('question'))}")
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ValueError(f"'nodes' must be a non-empty list, got {_kind(nodes)}")
    for k, raw in enumerate(nodes):
        _check_node(k, raw, len(nodes))
    _check_shape(nodes)
    path = data.get("chosen_path", [])
    if not isinstance(path, list) or not all(_is_id(k, len(nodes)) for k in path):
        raise ValueError("'chosen_path' must list ids of the tree's nodes")
    if not isinstance(data.get("meta", {}), dict):
        raise ValueError(f"'meta' must be an object, got {_kind(data.get('meta'))}")


def read_tree(path: str | Path) -> Tree:
    """The tree saved in `path`, checked; any problem is a `TreeFileError` naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise TreeFileError(f"{path}: {(err.strerror or type(err).__name__).lower()}") from err
    except UnicodeDecodeError as err:
        raise TreeFileError(f"{path}: not UTF-8 text (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise TreeFileError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err
    try:
        check_tree_data(data)
        return Tree.from_dict(data)
    except KeyError as err:
        raise TreeFileError(f"{path}: not a saved tree (no {err} key)") from err
    except (ValueError, TypeError) as err:
        raise TreeFileError(f"{path}: {str(err).splitlines()[0] if str(err) else err!r}") from err
