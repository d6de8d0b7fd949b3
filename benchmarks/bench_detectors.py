"""Latency of each equivalence detector per expansion (10 siblings = 45 pairs).

    python benchmarks/bench_detectors.py [--pairs PAIRS.jsonl] [--threads 2] [--repeats 5]

Without `--pairs` a built-in expansion of 10 realistic sibling steps is used. With it, the
distinct steps of rows sharing a question and prefix are pooled into expansions of 10.
The cross-encoder is an untrained MiniLM-sized BERT (speed only) unless `--checkpoint` is
given; it is also compared with the paper's serving scheme (one pair per forward pass,
padded to the position limit: 512 here; `--paper-length` adds a 2,048-position copy).
Targets: cascade median ≤ 20 ms per expansion; batched cross-encoder ≥ 20× the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from equivpruner.equiv.base import Context, all_pairs  # noqa: E402
from equivpruner.mathequiv.evaluate import load_pairs  # noqa: E402

QUESTION = (
    "Walter bought 60 apples from the store. He ate 2/5 of them and gave his sister 25% of "
    "the remaining number. If he then sold the remaining apples to his uncle at $3 each, how "
    "much money did he receive?"
)
SIBLINGS = [
    "Let's break down the problem step by step:",
    "Let's break down the problem step-by-step:",
    "To determine how much money Walter received, we'll break down the problem step by step:",
    "1. **Calculate the number of apples Walter ate:**\n   Walter ate \\(\\frac{2}{5}\\) of "
    "the 60 apples.\n   \\[\n   \\frac{2}{5} \\times 60 = 24\n   \\]\n   So, Walter ate 24 apples.",
    "1. **Calculate the number of apples Walter ate:**\n   Walter ate \\(\\frac{2}{5}\\) of "
    "the 60 apples.\n   \\[\n   \\frac{2}{5} \\times 60 = 48\n   \\]\n   So, Walter ate 48 apples.",
    "First, we calculate the number of apples Walter ate: 2/5 × 60 = 24 apples.",
    "**Step 1: Calculate the number of apples Walter ate.**",
    "Walter ate 2/5 of 60 apples, which is 24 apples. That leaves 60 - 24 = 36 apples.",
    "First, we calculate the number of apples Walter ate:\n\\[\n\\frac{2}{5} \\times 60 = 24\n"
    "\\]\nSo, Walter ate 24 apples. Now, we determine the number of apples left after eating:\n"
    "\\[\n60 - 24 = 36\n\\]\nNext, we calculate the number of apples Walter gave to his sister:"
    "\n\\[\n25\\% \\times 36 = 0.25 \\times 36 = 9\n\\]",
    "To solve this problem, we need to follow these steps:\n1. Calculate how many apples Walter "
    "ate.\n2. Determine how many apples are left.\n3. Calculate the money he received.",
]
MINILM_SIZES = {
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
}


def expansions_from(path: str, size: int = 10) -> list[tuple[list[str], Context]]:
    """Pool the distinct steps of rows with the same context into expansions of `size`."""
    pools: dict[tuple, list[str]] = {}
    for row in load_pairs(path):
        key = (row.get("question") or "", tuple(row.get("prefix") or ()))
        pool = pools.setdefault(key, [])
        pool.extend(s for s in (row["step_a"], row["step_b"]) if s not in pool)
    out, steps, context = [], [], None
    for (question, prefix), pool in pools.items():
        context = context or Context(question, prefix)
        steps.extend(pool)
        while len(steps) >= size:
            out.append((steps[:size], context))
            steps, context = steps[size:], None
    return out or [(steps, context or Context())]


def clear_caches() -> None:
    """Forget memoised normalisations and step facts, as for siblings never seen before."""
    from equivpruner.equiv import quantity
    from equivpruner.equiv.normalize import normalize
    from equivpruner.equiv.symbolic import SHARED_FACTS

    normalize.cache_clear()
    SHARED_FACTS.clear()
    quantity.clear_cache()


def time_calls(make, expansions, repeats: int) -> list[float]:
    """Seconds per expansion, caches cleared first; `make()` gives the detector."""
    times = []
    for _ in range(repeats):
        for steps, context in expansions:
            detector = make()
            clear_caches()
            pairs = all_pairs(len(steps))
            start = time.perf_counter()
            detector.compare(steps, pairs, context)
            times.append(time.perf_counter() - start)
    return times


def row(name: str, times: list[float], pairs: int) -> str:
    ordered = sorted(times)
    median = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"| {name} | {median * 1e3:.2f} | {p90 * 1e3:.2f} | {pairs / median:,.0f} |"


def cheap_rows(expansions, repeats: int) -> list[str]:
    from equivpruner.equiv.registry import make_detector

    pairs = len(all_pairs(len(expansions[0][0])))
    out = []
    for name, opts in [
        ("exact", {}),
        ("symbolic", {}),
        ("levenshtein", {}),
        ("cascade (lexical final)", {"use_default_checkpoint": False}),
        ("features (shipped)", {}),
        ("cascade (shipped features final)", {}),
        ("cascade-strict (stop point)", {}),
    ]:
        key = name.split(" ")[0]
        times = time_calls(lambda k=key, o=opts: make_detector(k, **o), expansions, repeats)
        out.append(row(name, times, pairs))
    return out


def model_rows(expansions, checkpoint: str, repeats: int) -> list[str]:
    from equivpruner.equiv.cascade import CascadeDetector
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector
    from equivpruner.equiv.embedding import EmbeddingDetector

    pairs = len(all_pairs(len(expansions[0][0])))
    embedding, cross = EmbeddingDetector(), CrossEncoderDetector(checkpoint)
    steps, context = expansions[0]
    for detector in (embedding, cross):  # load and warm up
        detector.compare(steps, all_pairs(len(steps)), context)
    return [
        row("embedding (MiniLM)", time_calls(lambda: embedding, expansions, repeats), pairs),
        row("cross-encoder (batched)", time_calls(lambda: cross, expansions, repeats), pairs),
        row(
            "cascade + cross-encoder",
            time_calls(lambda: CascadeDetector(final=cross), expansions, repeats),
            pairs,
        ),
    ]


def scheme_rows(
    steps: list[str], checkpoint: str, ref_pairs: int, label: str, shipped=None
) -> list[str]:
    """Batched (both orders, dynamic padding) vs one pair per pass padded to the limit;
    `shipped` (a trained detector of the same architecture) adds its symmetric verdicts,
    which run the reverse order only where it can flip a verdict."""
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector, usable_positions

    text_pairs = [(steps[i], steps[j]) for i, j in all_pairs(len(steps))]
    batched = CrossEncoderDetector(checkpoint)
    one_order = CrossEncoderDetector(checkpoint, symmetric=False)
    tokenizer, model = batched._loaded()
    batched.scores(text_pairs[:2])
    rates = {}
    runs = [
        ("batched, both orders", batched.scores, text_pairs),
        ("batched, one order", one_order.scores, text_pairs),
        ("reference scheme", batched.reference_scheme_scores, text_pairs[:ref_pairs]),
    ]
    if shipped is not None:
        shipped.verdict_scores(text_pairs[:2])
        runs.insert(2, ("shipped weights: symmetric verdicts", shipped.verdict_scores, text_pairs))
    for name, fn, work in runs:
        start = time.perf_counter()
        fn(work)
        rates[name] = len(work) / (time.perf_counter() - start)
    pad = min(2048, usable_positions(model, tokenizer))
    ref = rates["reference scheme"]
    return [
        f"| {label}: {name} | {rate:,.1f} | {rate / ref:.1f}× |"
        + (f" padded to {pad}" if name == "reference scheme" else "")
        for name, rate in rates.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", help="JSONL of labelled pairs to build expansions from")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkpoint", help="a trained cross-encoder (default: untrained)")
    parser.add_argument("--ref-pairs", type=int, default=10, help="pairs timed by reference")
    parser.add_argument("--paper-length", action="store_true", help="also a 2,048-token copy")
    parser.add_argument("--skip-models", action="store_true")
    args = parser.parse_args()

    expansions = expansions_from(args.pairs) if args.pairs else [(SIBLINGS, Context(QUESTION))]
    n = len(expansions[0][0])
    print(f"{len(expansions)} expansion(s) of {n} siblings ({n * (n - 1) // 2} pairs)\n")
    print("| detector | median ms / expansion | p90 ms | pairs/s |\n|---|---:|---:|---:|")
    for line in cheap_rows(expansions, args.repeats):
        print(line, flush=True)
    if args.skip_models:
        return
    import torch

    from equivpruner.equiv.cross_encoder import init_random_checkpoint
    from equivpruner.equiv.embedding import resolve_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = resolve_model("embedded:minilm")
        checkpoint = args.checkpoint or init_random_checkpoint(
            tmp + "/m", tokenizer, **MINILM_SIZES
        )
        for line in model_rows(expansions, checkpoint, max(1, args.repeats // 2)):
            print(line, flush=True)
        print("\n| cross-encoder scheme | pairs/s | vs reference |\n|---|---:|---:|")
        for line in scheme_rows(expansions[0][0], checkpoint, args.ref_pairs, "512-pos model"):
            print(line, flush=True)
        if args.paper_length:
            from equivpruner.equiv.registry import cross_encoder, shipped_checkpoint

            shipped = shipped_checkpoint()
            long = init_random_checkpoint(
                tmp + "/l", tokenizer, max_position_embeddings=2048, **MINILM_SIZES
            )
            trained = cross_encoder(shipped) if shipped else None
            label = "2048-pos model"
            for line in scheme_rows(expansions[0][0], long, args.ref_pairs, label, trained):
                print(line, flush=True)


if __name__ == "__main__":
    main()
