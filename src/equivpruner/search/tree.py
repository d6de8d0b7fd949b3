"""The search tree: nodes with statistics, merge records, and a JSON round trip."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

TREE_FORMAT = "equivpruner.tree/1"


@dataclass
class MergeRecord:
    """A sibling folded into a surviving node: its text and which detector stage decided."""

    text: str
    stage: str
    probability: float
    tokens: int = 0
    prior: float = 0.0
    value: float | None = None
    terminal: bool = False


@dataclass
class Node:
    """One reasoning step. The root holds no step (`text == ""`)."""

    id: int
    text: str
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    depth: int = 0
    prior: float = 1.0
    visits: int = 0
    value_sum: float = 0.0
    value: float | None = None
    terminal: bool = False
    finish_reason: str = ""
    tokens: int = 0
    logprob: float | None = None  # the policy's confidence: mean token log-prob,
    min_logprob: float | None = None  # its least likely token,
    entropy: float | None = None  # mean next-token entropy (None: the backend gave none)
    merged: list[MergeRecord] = field(default_factory=list)
    expanded: bool = False
    # Its expansion: samples taken, groups, stop reason, and per sample in generation order
    # whether it opened a new group and its confidence (what the branch gate is fitted on).
    expansion: dict | None = None

    @property
    def q(self) -> float:
        """Mean backed-up value; the node's own score before any visit."""
        if self.visits:
            return self.value_sum / self.visits
        return self.value if self.value is not None else 0.0


@dataclass
class Tree:
    """All nodes of one problem's search, plus what is known about the problem."""

    question: str
    nodes: list[Node] = field(default_factory=list)
    answer: str | None = None
    gold: str | None = None
    correct: bool | None = None
    chosen_path: list[int] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes.append(Node(id=0, text="", expanded=False))

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def add_child(self, parent: Node, text: str, **stats) -> Node:
        node = Node(
            id=len(self.nodes), text=text, parent=parent.id, depth=parent.depth + 1, **stats
        )
        self.nodes.append(node)
        parent.children.append(node.id)
        return node

    def children(self, node: Node) -> list[Node]:
        return [self.nodes[c] for c in node.children]

    def path_to(self, node: Node) -> list[Node]:
        """Nodes from the root's first child down to `node` (the root itself excluded)."""
        path = []
        while node.parent is not None:
            path.append(node)
            node = self.nodes[node.parent]
        return path[::-1]

    def steps_to(self, node: Node) -> list[str]:
        return [n.text for n in self.path_to(node)]

    def to_dict(self) -> dict:
        return {"format": TREE_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> Tree:
        if data.get("format") != TREE_FORMAT:
            raise ValueError(f"not an equivpruner tree (format {data.get('format')!r})")
        nodes = []
        for raw in data["nodes"]:
            merged = [MergeRecord(**m) for m in raw.get("merged", [])]
            nodes.append(Node(**{**raw, "merged": merged}))
        fields = {k: data[k] for k in ("answer", "gold", "correct", "chosen_path", "meta")}
        return cls(question=data["question"], nodes=nodes, **fields)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Tree:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read tree {path}: {err}") from err
        return cls.from_dict(data)
