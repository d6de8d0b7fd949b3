"""Time MCTS-like expansions with self-evaluation on llama.cpp, with and without the second
(scoring) context: W siblings at a prompt, then one judge prompt per sibling, going one step
deeper each expansion, as the search does along a path.

    EQUIVPRUNER_THREADS=1 python benchmarks/bench_scoring_context.py --expansions 4
"""

from __future__ import annotations

import argparse
import time

from equivpruner.llm.base import GenerationParams, Message
from equivpruner.llm.llamacpp import LlamaCppBackend
from equivpruner.llm.registry import embedded_path
from equivpruner.value.selfeval import judge_messages

QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' "
    "market daily for $2 per fresh duck egg. How much in dollars does she make every day at "
    "the farmers' market?"
)
SYSTEM = "Solve the problem step by step, one step per paragraph. End with \\boxed{answer}."


def run(backend: LlamaCppBackend, expansions: int, width: int, seed: int) -> tuple[float, ...]:
    """Sampling seconds, sibling tokens, judging seconds and judge calls over `expansions`
    expansions of `width` siblings (sampled texts may differ between the two set-ups: a
    prefix evaluated in another order gives slightly different logits)."""
    steps: list[str] = []
    tokens, sampling, judging, calls = 0, 0.0, 0.0, 0
    for depth in range(expansions):
        prompt = backend.chat_prompt(
            [Message("system", SYSTEM), Message("user", QUESTION)],
            "".join(s + "\n\n" for s in steps),
        )
        params = GenerationParams(n=width, max_tokens=64, temperature=0.7, stop=("\n\n",),
                                  seed=seed + depth)
        start = time.perf_counter()
        [siblings] = backend.generate([prompt], params)
        sampling += time.perf_counter() - start
        tokens += sum(c.tokens for c in siblings)
        judges = [backend.chat_prompt(judge_messages(QUESTION, steps, c.text)) for c in siblings]
        start = time.perf_counter()
        backend.next_token_probs(judges, ["Yes", "No"])
        judging += time.perf_counter() - start
        calls += len(judges)
        steps.append(siblings[0].text.strip() or "...")
    return sampling, tokens, judging, calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--expansions", type=int, default=4)
    ap.add_argument("--width", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    path = embedded_path("qwen2.5-coder-0.5b")
    print("| scoring context | sampling s / sibling token | judging s / judge call |")
    print("|---|---|---|")
    for separate in (False, True):
        backend = LlamaCppBackend(path, n_threads=args.threads, score_context=separate)
        run(backend, 1, 1, seed=99)  # warm up both contexts
        sampling, tokens, judging, calls = run(backend, args.expansions, args.width, seed=0)
        label = "separate" if separate else "shared with the policy"
        print(f"| {label} | {sampling / tokens:.3f} ({tokens} tokens) "
              f"| {judging / calls:.2f} ({calls} calls) |")


if __name__ == "__main__":
    main()
