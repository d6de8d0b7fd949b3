"""Step-level beam search with equivalence pruning, against an OpenAI-compatible server.

The loop is a search-and-learn style beam search: N beams, each grown one step at a time by
sampling M candidate next steps; the candidates are scored (a PRM, last-step score) and the N
best go on. Pruning adds two lines to it (marked PRUNING below): group each beam's candidates
with `Pruner.group` and grow only one candidate per group, so duplicate branches are never
paid for again. Beams grow in threads (one `Pruner` serves them all; the server batches).

    python examples/beam_search_pruned.py --server http://localhost:8000/v1 \
        --model Qwen/Qwen2.5-Math-7B-Instruct --prm http://localhost:8001 \
        "What is the sum of the first 10 odd numbers?"

Without `--prm` a candidate scores the share of its beam's samples that fell into its group
(self-consistency at the step level). Prints one JSON object: answer, steps, and every merge.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from equivpruner import Pruner, StepProtocol
from equivpruner.llm.base import GenerationParams, state_seed
from equivpruner.llm.openai_http import OpenAIBackend
from equivpruner.search.stats import SearchStats
from equivpruner.value.http_prm import HttpPRM


@dataclass
class Beam:
    steps: list[str]
    score: float = 0.0
    done: bool = False


@dataclass
class Report:
    best: Beam
    sampled: int = 0
    kept: int = 0
    merges: list[dict] = field(default_factory=list)


def sample_steps(policy, protocol, question, beam, width, temperature, seed) -> list[tuple]:
    """`width` candidate next steps for `beam` (your generation code goes here)."""
    prompt = protocol.prompt(policy, question, beam.steps)
    params = GenerationParams(
        n=width, stop=(protocol.delimiter,), temperature=temperature,
        max_tokens=protocol.max_step_tokens, seed=state_seed(seed, prompt),
    )  # fmt: skip
    [samples] = policy.generate([prompt], params)
    return [(s.text.strip(), s.finish_reason) for s in samples if s.text.strip()]


def grow(beam, question, policy, pruner, prm, protocol, width, temperature, seed, report):
    """The children of one beam: one per group of equivalent candidates, scored."""
    samples = sample_steps(policy, protocol, question, beam, width, temperature, seed)
    texts = [text for text, _ in samples]
    if not texts:
        return [Beam(beam.steps, beam.score, done=True)]
    grouping = pruner.group(question, beam.steps, texts)  # PRUNING: group the candidates
    keep = grouping.keep  # PRUNING: one candidate per group goes on
    if prm is not None:
        scores = prm.score(question, beam.steps, [texts[i] for i in keep], SearchStats())
    else:
        scores = [len(g) / len(texts) for g in grouping.groups]
    depth = len(beam.steps) + 1
    report.sampled += len(texts)
    report.kept += len(keep)
    report.merges += [
        {"depth": depth, "kept": texts[m.kept], "merged": texts[m.merged], "stage": m.stage,
         "probability": round(m.probability, 4)}
        for m in grouping.merges
    ]  # fmt: skip
    return [
        Beam(beam.steps + [texts[i]], score,
             protocol.is_terminal(texts[i], samples[i][1], depth))
        for i, score in zip(keep, scores, strict=True)
    ]  # fmt: skip


def beam_search(question, policy, pruner, prm=None, beams=4, width=4, temperature=0.8,
                seed=0, protocol=None) -> Report:
    """Grow the live beams until every kept beam is finished or the depth is spent."""
    protocol = protocol or StepProtocol()
    active, report = [Beam([])], Report(Beam([]))
    for _ in range(protocol.max_depth):
        live = [b for b in active if not b.done]
        if not live:
            break
        args = (question, policy, pruner, prm, protocol, width, temperature, seed, report)
        with ThreadPoolExecutor(max_workers=len(live)) as pool:
            grown = pool.map(grow, live, *([a] * len(live) for a in args))
            children = [c for kids in grown for c in kids]
        pool_ = [b for b in active if b.done] + children
        active = sorted(pool_, key=lambda b: -b.score)[:beams]
    finished = [b for b in active if b.done] or active
    report.best = max(finished, key=lambda b: b.score)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("--server", required=True, help="the policy's /v1 URL")
    parser.add_argument("--model", required=True, help="the served policy's name")
    parser.add_argument("--prm", help="a vLLM pooling server with a PRM (URL[#MODEL])")
    parser.add_argument("--pruner", default="cascade", help="equivalence detector")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--width", type=int, default=4)
    parser.add_argument("--max-depth", type=int, default=8)
    parser.add_argument("--max-step-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for one answer (queueing at the server included)")
    args = parser.parse_args(argv)
    policy = OpenAIBackend(args.server, args.model, timeout=args.timeout, logprobs=0)
    protocol = StepProtocol(max_depth=args.max_depth, max_step_tokens=args.max_step_tokens)
    prm = HttpPRM.from_spec(args.prm) if args.prm else None
    report = beam_search(args.question, policy, Pruner(args.pruner), prm, args.beams,
                         args.width, args.temperature, args.seed, protocol)
    out = {"answer": protocol.final_answer(report.best.steps), "steps": report.best.steps,
           "sampled": report.sampled, "kept": report.kept, "merges": report.merges}
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
