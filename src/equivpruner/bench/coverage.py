"""What each arm's trees found, and what its answer rules chose among it.

A search can lose a problem in two places: it never reaches a right solution, or it reaches
one and answers with another. Read from the fields the report sets from the saved trees
(`solutions`, `solution_found`, `vote_correct`) and the record's path answer (`correct`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .metrics import _ok


def coverage(records: Sequence[dict]) -> dict:
    """One arm's counts over its ok records that have a saved tree."""
    read = [r for r in _ok(records) if r.get("solution_found") is not None]
    return {
        "problems": len(read),
        "solutions": sum(r["solutions"] for r in read),
        "found": sum(bool(r["solution_found"]) for r in read),
        "path": sum(bool(r["correct"]) for r in read),
        "vote": sum(bool(r.get("vote_correct")) for r in read),
        "missed": sum(bool(r["solution_found"]) and not r["correct"] for r in read),
    }


def found_section(by_arm: Mapping[str, Sequence[dict]]) -> list[str]:
    """The report's markdown: per arm, complete solutions per tree, problems whose tree
    holds a right one, and how many of those each answer rule got."""
    rows = [(arm, coverage(records)) for arm, records in by_arm.items()]
    rows = [(arm, c) for arm, c in rows if c["problems"]]
    if not rows:
        return []
    lines = [
        "## What the trees found",
        "",
        "Found: problems whose tree (or set of chains) holds a complete solution with the "
        "right answer; path and vote: problems the arm answered right under each rule; "
        "found, path wrong: a right solution was in the tree and the path answered another. "
        "Read from the saved trees, no tokens spent.",
        "",
        "| arm | problems | complete solutions / problem | found | path | vote "
        "| found, path wrong |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm, c in rows:
        lines.append(
            f"| `{arm}` | {c['problems']} | {c['solutions'] / c['problems']:.1f} "
            f"| {c['found']} | {c['path']} | {c['vote']} | {c['missed']} |"
        )
    return lines + [""]
