"""Probe: do two equivalent steps leave the policy in the same state, as the policy sees it?

    python benchmarks/detector/policy_state_probe.py PAIRS.jsonl [...] [--json OUT] [--threads T]

For each step of a pair, the embedded Qwen policy reads the search's own prompt (chat
template, question, earlier steps, then the step) and we keep its final hidden states
(llama.cpp embeddings, no pooling). Two signals per pair, with no training at all:

- `state-last`: cosine of the hidden states at the step's last token (the state the policy
  continues from);
- `state-mean`: cosine of the step tokens' mean hidden state.

Beside them, the MiniLM sentence cosine of the two steps (the bi-encoder baseline). Reports
ROC AUC and the best F1 over thresholds per signal, per file and per kind of pair (opening
step / later step). A probe, not a detector: it says whether the policy's state is worth
turning into a trained stage (issue: a semantic stage).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from equivpruner.mathequiv.evaluate import load_pairs, row_label
from equivpruner.steps import StepProtocol


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties shared."""
    from scipy.stats import rankdata

    pos, neg = labels == 1, labels == 0
    if not pos.any() or not neg.any():
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


def _best_f1(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    best = (0.0, 1.0)
    for t in np.unique(scores):
        pred = scores >= t
        tp = int((pred & (labels == 1)).sum())
        p = tp / max(int(pred.sum()), 1)
        r = tp / max(int((labels == 1).sum()), 1)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        best = max(best, (f1, float(t)))
    return best


class PolicyStates:
    """Final hidden states of the embedded policy over the search's prompts (cached)."""

    def __init__(self, threads: int):
        import llama_cpp

        from equivpruner.llm.loader import load_policy

        self.policy = load_policy("embedded:qwen2.5-coder-0.5b", n_threads=threads)
        self.llm = llama_cpp.Llama(
            model_path=str(self.policy.path), embedding=True, n_ctx=4096, n_threads=threads,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE, verbose=False,
        )  # fmt: skip
        self.protocol = StepProtocol()
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def state(self, question: str, prefix: list[str], step: str) -> tuple[np.ndarray, np.ndarray]:
        key = (question, tuple(prefix), step)
        if key not in self.cache:
            before = self.protocol.prompt(self.policy, question, prefix)
            after = self.protocol.prompt(self.policy, question, [*prefix, step])
            n_step = max(1, len(self._tokens(after)) - len(self._tokens(before)))
            hidden = np.asarray(self.llm.embed(after, normalize=False), dtype=np.float32)
            self.cache[key] = (hidden[-1], hidden[-n_step:].mean(axis=0))
        return self.cache[key]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def signals(rows: list[dict], states: PolicyStates) -> dict[str, np.ndarray]:
    from equivpruner.equiv.embedding import EmbeddingDetector

    minilm = EmbeddingDetector()
    last, mean, sent = [], [], []
    for k, row in enumerate(rows):
        prefix = list(row.get("prefix") or [])
        a = states.state(row.get("question", ""), prefix, row["step_a"])
        b = states.state(row.get("question", ""), prefix, row["step_b"])
        last.append(_cos(a[0], b[0]))
        mean.append(_cos(a[1], b[1]))
        sent.append(float(minilm.similarity([row["step_a"], row["step_b"]])[0, 1]))
        if k % 25 == 0:
            print(f"  {k}/{len(rows)}", file=sys.stderr, flush=True)
    return {"state-last": np.array(last), "state-mean": np.array(mean), "minilm": np.array(sent)}


def report(rows: list[dict], sig: dict[str, np.ndarray]) -> dict:
    labels = np.array([row_label(r) for r in rows])
    opening = np.array([not r.get("prefix") for r in rows])
    out = {}
    for kind, mask in (("all", np.ones_like(opening)), ("opening", opening), ("later", ~opening)):
        for name, s in sig.items():
            f1, t = _best_f1(s[mask], labels[mask])
            out[f"{kind}/{name}"] = {
                "n": int(mask.sum()), "auc": round(_auc(s[mask], labels[mask]), 4),
                "best_f1": round(f1, 4), "at": round(t, 4),
            }  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    states, results = PolicyStates(args.threads), {}
    for path in args.pairs:
        rows = load_pairs(path)
        results[path.name] = report(rows, signals(rows, states))
        for key, val in results[path.name].items():
            print(f"{path.name:40s} {key:22s} {val}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
