"""How far the LLM judge's labels can be trusted: agreement with human labels and between judges.

    python benchmarks/detector/judge_agreement.py

- dev: a Claude agent labelled the 133 pairs of ../shared/equiv/dev.jsonl blind (the pairs
  without labels, the same rubric text as the training labels) → `dev-judge-levels.jsonl`;
  compared with the hand labels. A second agent labelled them blind under the rubric that
  has the paragraph on opening steps and plans → `dev-judge-levels-plans.jsonl`.
- MCTS-test: a second agent relabelled 60 random rows (seed 7) of
  `siblings-gsm8k-test-mcts-labelled.jsonl` blind → compared with the first labels.

Binary labels use {3, 4} → equivalent. Nothing here is ever trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEV = HERE.parents[1] / ".." / "shared" / "equiv" / "dev.jsonl"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def agreement(reference: list[int], judged: list[int]) -> str:
    n = len(reference)
    agree = sum(a == b for a, b in zip(reference, judged, strict=True)) / n
    pa, pb = sum(reference) / n, sum(judged) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    kappa = (agree - chance) / (1 - chance) if chance < 1 else 1.0
    pairs = list(zip(reference, judged, strict=True))
    tp = sum(a and b for a, b in pairs)
    precision = tp / max(1, sum(b for _, b in pairs))
    recall = tp / max(1, sum(a for a, _ in pairs))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return (
        f"n {n} · agreement {agree:.3f} · Cohen's kappa {kappa:.3f} · judge as a detector: "
        f"P {precision:.3f} R {recall:.3f} F1 {f1:.3f}"
    )


def _openers(rows: list[dict]) -> list[int]:
    return [k for k, r in enumerate(rows) if not r.get("prefix")]


def main() -> None:
    folder = HERE / "judge-agreement"
    if DEV.is_file():
        dev = _rows(DEV)
        for rubric, name in (("", "dev-judge-levels"), (" (plans)", "dev-judge-levels-plans")):
            judge = [int(r["level"] >= 3) for r in _rows(folder / f"{name}.jsonl")]
            for kind, rows in (("", range(len(dev))), (", openers", _openers(dev))):
                human = [dev[k]["label"] for k in rows]
                print(f"dev{kind}, judge{rubric} vs hand labels:",
                      agreement(human, [judge[k] for k in rows]))  # fmt: skip
    first = _rows(HERE / "siblings-gsm8k-test-mcts-labelled.jsonl")
    picked = json.loads((folder / "mcts-test-second-judge-rows.json").read_text())
    second = _rows(folder / "mcts-test-second-judge-levels.jsonl")
    print(
        "MCTS-test, second judge vs first:",
        agreement([first[k]["label"] for k in picked], [int(r["level"] >= 3) for r in second]),
    )


if __name__ == "__main__":
    main()
