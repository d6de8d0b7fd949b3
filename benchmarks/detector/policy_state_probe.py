"""Probe: do two equivalent steps leave the policy in the same state, as the policy sees it?

    python benchmarks/detector/policy_state_probe.py PAIRS.jsonl [...] [--json OUT]
        [--threads T] [--states STATES.npz] [--states-only]

For each step of a pair, the embedded Qwen policy reads the search's own prompt (chat
template, question, earlier steps, then the step) and we keep its final hidden states
(llama.cpp embeddings, no pooling). Three signals per pair, with no training at all:

- `state-last`: cosine of the hidden states at the step's last token (the state the policy
  continues from);
- `state-mean`: cosine of the step tokens' mean hidden state;
- `state-delta`: cosine of the two changes of state (last state minus the prefix's).

Beside them, the MiniLM sentence cosine of the two steps (the bi-encoder baseline). Reports
ROC AUC and the best F1 over thresholds per signal, per file and per kind of pair (opening
step / later step). A probe, not a detector: it says whether the policy's state is worth
turning into a trained stage (issue: a semantic stage).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    """Final hidden states of the embedded policy over the search's prompts.

    A prefix (question and earlier steps) is decoded once; each step is decoded after it
    in one batch and rolled back, so a node's siblings cost their own tokens only. Per
    step: the state at its last token, the mean over its tokens, and the state after the
    prefix (so a step's change of state can be read). Kept in an .npz by step key."""

    def __init__(
        self, threads: int, cache: Path | None = None, model: str = "embedded:qwen2.5-coder-0.5b"
    ):
        import llama_cpp

        from equivpruner.llm.loader import load_policy

        self.policy = load_policy(model, n_threads=threads)
        self.llm = llama_cpp.Llama(
            model_path=str(self.policy.path), embedding=True, n_ctx=4096, n_batch=512,
            n_threads=threads, n_threads_batch=threads,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE, verbose=False,
        )  # fmt: skip
        self._lib = llama_cpp
        self.protocol = StepProtocol()
        self.path = cache
        self.cache: dict[str, np.ndarray] = {}
        if cache is not None and cache.is_file():
            self.cache = load_states(cache)
        self.prefixes: dict[str, np.ndarray] = {}

    def save(self) -> None:
        if self.path is not None and self.cache:
            keys = sorted(self.cache)
            np.savez(
                self.path, keys=np.asarray(keys), states=np.stack([self.cache[k] for k in keys])
            )

    def _tokens(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def _feed(self, tokens: list[int], keep_at_most: int) -> np.ndarray:
        """Hidden states of `tokens` from the first position not already in the KV cache
        (reusing at most `keep_at_most` positions)."""
        llm, keep = self.llm, 0
        limit = min(keep_at_most, len(tokens) - 1, llm.n_tokens)
        while keep < limit and llm.input_ids[keep] == tokens[keep]:
            keep += 1
        llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        llm.n_tokens, rows = keep, []
        for start in range(keep, len(tokens), llm.n_batch):
            chunk = tokens[start : start + llm.n_batch]
            llm._batch.set_batch(batch=chunk, n_past=llm.n_tokens, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[llm.n_tokens : llm.n_tokens + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
            for j in range(len(chunk)):
                ptr = self._lib.llama_get_embeddings_ith(llm._ctx.ctx, j)
                rows.append(np.ctypeslib.as_array(ptr, shape=(llm.n_embd(),)).copy())
        return np.asarray(rows, dtype=np.float32)

    def prefix_state(self, question: str, prefix: list[str]) -> np.ndarray:
        """The state after the prefix's own prompt: the one its steps were sampled from."""
        key = json.dumps([question, prefix], ensure_ascii=False)
        if key not in self.prefixes:
            before = self._tokens(self.protocol.prompt(self.policy, question, prefix))
            self.prefixes[key] = self._feed(before, len(before) - 1)[-1]
        return self.prefixes[key]

    def state(self, question: str, prefix: list[str], step: str) -> np.ndarray:
        """Rows: the step's last state, its mean state, the prefix's state. The step's
        tokens are those of the prompt that holds it (BPE may merge its first characters
        with the delimiter before it)."""
        key = step_key(question, prefix, step)
        if key not in self.cache:
            before = self._tokens(self.protocol.prompt(self.policy, question, prefix))
            after = self._tokens(self.protocol.prompt(self.policy, question, [*prefix, step]))
            common = 0
            while common < min(len(before), len(after)) and before[common] == after[common]:
                common += 1
            prefix_state = self.prefix_state(question, prefix)
            hidden = self._feed(after, min(common, len(after) - 1))
            self.cache[key] = np.stack([hidden[-1], hidden.mean(axis=0), prefix_state])
        return self.cache[key]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _step_keys(rows) -> list[tuple[str, str, list[str], str]]:
    """Every (key, question, prefix, step) the rows need, grouped by prefix (so each prefix is
    decoded once)."""
    seen = {}
    for row in rows:
        q, prefix = _get(row, "question") or "", list(_get(row, "prefix") or [])
        for step in (_get(row, "step_a"), _get(row, "step_b")):
            seen[step_key(q, prefix, step)] = (q, prefix, step)
    return [(k, *seen[k]) for k in sorted(seen)]


def _get(row, name: str):
    return row.get(name) if isinstance(row, dict) else getattr(row, name)


def compute_states(rows, states: PolicyStates, save_every: int = 200) -> None:
    """Fill `states` for every step of `rows`, saving its .npz as it goes (resumable)."""
    todo = [k[1:] for k in _step_keys(rows) if k[0] not in states.cache]
    start = time.perf_counter()
    for n, (q, prefix, step) in enumerate(todo, 1):
        states.state(q, prefix, step)
        if n % save_every == 0 or n == len(todo):
            states.save()
            took = time.perf_counter() - start
            print(f"  {n}/{len(todo)} steps, {took:.0f} s", file=sys.stderr, flush=True)


def step_key(question: str, prefix: list[str], step: str) -> str:
    return json.dumps([question, prefix, step], ensure_ascii=False)


def load_states(path: Path) -> dict[str, np.ndarray]:
    """The states an earlier run saved (key → last, mean and prefix state)."""
    with np.load(path) as data:
        return dict(zip(data["keys"].tolist(), data["states"], strict=True))


def state_cosines(rows, found: dict[str, np.ndarray]) -> np.ndarray:
    """Per row: cosines of the two steps' last states, mean states, and changes of state
    (last state minus the prefix's)."""
    cols = []
    for row in rows:
        q, prefix = _get(row, "question") or "", list(_get(row, "prefix") or [])
        a = found[step_key(q, prefix, _get(row, "step_a"))]
        b = found[step_key(q, prefix, _get(row, "step_b"))]
        cols.append((_cos(a[0], b[0]), _cos(a[1], b[1]), _cos(a[0] - a[2], b[0] - b[2])))
    return np.asarray(cols)


def signals(rows: list[dict], states: PolicyStates) -> dict[str, np.ndarray]:
    from equivpruner.equiv.embedding import EmbeddingDetector

    compute_states(rows, states)
    cos = state_cosines(rows, states.cache)
    minilm = EmbeddingDetector()
    sent = [float(minilm.similarity([r["step_a"], r["step_b"]])[0, 1]) for r in rows]
    return {
        "state-last": cos[:, 0], "state-mean": cos[:, 1], "state-delta": cos[:, 2],
        "minilm": np.array(sent),
    }  # fmt: skip


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
    ap.add_argument("--states", type=Path, help="an .npz of states to reuse and extend")
    ap.add_argument(
        "--states-only", action="store_true", help="compute and save the states, no report"
    )
    args = ap.parse_args()
    states, results = PolicyStates(args.threads, args.states), {}
    for path in args.pairs:
        rows = load_pairs(path)
        if args.states_only:
            compute_states(rows, states)
            continue
        results[path.name] = report(rows, signals(rows, states))
        for key, val in results[path.name].items():
            print(f"{path.name:40s} {key:22s} {val}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
