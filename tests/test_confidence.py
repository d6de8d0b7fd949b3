"""The policy's confidence per sample: summaries, servers' log-prob shapes, the generation
cache, the tree, the priors, and llama.cpp's log-probs against a separate forward pass."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from equivpruner.llm.base import Completion, GenerationParams, confidence_summary
from equivpruner.llm.cache import CachedBackend, GenerationCache
from equivpruner.llm.logprobs import token_confidence
from equivpruner.llm.openai_http import OpenAIBackend
from equivpruner.llm.scripted import EOS, ScriptedBackend
from equivpruner.search import SearchConfig, SearchEnv, Tree, make_search
from equivpruner.steps import StepProtocol
from equivpruner.value.base import ConstantValue

from .helpers import NeverDetector

Q = "What is 2 + 3?"


class ConfidentBackend(ScriptedBackend):
    """A scripted policy whose samples carry a scripted confidence (mean log-prob per text)."""

    def __init__(self, script, logprob, **kw):
        super().__init__(script, **kw)
        self.logprob = logprob  # text -> mean log-prob (None: no confidence)
        self.scored: list[str] = []

    def generate(self, prompts, params):
        out = super().generate(prompts, params)
        for comps in out:
            for c in comps:
                c.mean_logprob = self.logprob(c.text)
                c.min_logprob = None if c.mean_logprob is None else c.mean_logprob - 1.0
                c.entropy = None if c.mean_logprob is None else 0.5
        return out

    def continuation_confidence(self, prompt, text, stop=None):
        self.scored.append(text + (stop or ""))
        mean = self.logprob(text)
        return {"mean_logprob": mean, "min_logprob": mean - 1.0, "entropy": 0.5}


def test_confidence_summary():
    out = confidence_summary([-0.5, -1.5, -0.1], [0.2, 0.4])
    assert out["mean_logprob"] == pytest.approx(-0.7)
    assert out["min_logprob"] == -1.5
    assert out["entropy"] == pytest.approx(0.3)
    assert confidence_summary([]) == dict.fromkeys(("mean_logprob", "min_logprob", "entropy"))


def test_token_confidence_reads_both_server_shapes():
    legacy = {  # vLLM / llama-cpp-python: the completions shape
        "text": "x",
        "logprobs": {
            "tokens": ["a", "b"],
            "token_logprobs": [-0.2, -1.0],
            "top_logprobs": [{"a": -0.2, "c": -1.8}, {"b": -1.0, "d": -0.5}],
        },
    }
    out = token_confidence(legacy)
    assert out["mean_logprob"] == pytest.approx(-0.6)
    assert out["min_logprob"] == pytest.approx(-1.0)
    assert 0.0 < out["entropy"] < math.log(2)
    chat = {  # llama.cpp's llama-server: one entry per token
        "text": "x",
        "logprobs": {
            "content": [
                {"token": "a", "logprob": -0.2, "top_logprobs": [{"token": "a", "logprob": -0.2}]},
                {"token": "b", "logprob": -1.0, "top_logprobs": []},
            ]
        },
    }
    out = token_confidence(chat)
    assert out["mean_logprob"] == pytest.approx(-0.6) and out["min_logprob"] == -1.0
    assert out["entropy"] == pytest.approx(0.0)  # one alternative: no uncertainty
    assert token_confidence({"text": "x"})["mean_logprob"] is None


class _Server:
    """Answers completions; the first `refuse` requests asking for logprobs get a 400."""

    def __init__(self, refuse: int = 0):
        self.bodies: list[dict] = []
        self.refuse = refuse
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.bodies.append(body)
                status, reply = 200, {
                    "choices": [{
                        "index": 0, "text": "Add.", "finish_reason": "stop",
                        "logprobs": {"token_logprobs": [-0.1, -0.3],
                                     "top_logprobs": [{"A": -0.1}, {"dd": -0.3}]},
                    }],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                }  # fmt: skip
                if "logprobs" in body and owner.refuse > 0:
                    owner.refuse -= 1
                    status, reply = 400, {"error": {"message": "logprobs not supported"}}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("refuse", [0, 1])
def test_http_backend_asks_for_logprobs_and_reads_them(refuse):
    server = _Server(refuse)
    try:
        backend = OpenAIBackend(server.url, "m", max_retries=1, logprobs=3)
        params = GenerationParams(n=1, temperature=0.7, max_tokens=8, seed=1)
        [[c]] = backend.generate(["prompt"], params)
        again = backend.generate(["prompt"], params)[0][0]
    finally:
        server.close()
    assert server.bodies[0]["logprobs"] == 3
    if refuse:  # asked again without, and never again after
        assert "logprobs" not in server.bodies[1] and "logprobs" not in server.bodies[-1]
        assert c.mean_logprob == pytest.approx(-0.2)  # this server sends them anyway
    else:
        assert c.mean_logprob == pytest.approx(-0.2) and c.min_logprob == pytest.approx(-0.3)
        assert again.mean_logprob == c.mean_logprob


def test_cache_stores_and_returns_confidence(tmp_path):
    script = {"p": ["A step.", "Another step."]}
    backend = ConfidentBackend(script, lambda t: -0.25 * len(t.split()))
    cache = GenerationCache(tmp_path / "gen.sqlite")
    params = GenerationParams(n=2, temperature=0.7, max_tokens=8, seed=3)
    fresh = CachedBackend(backend, cache).generate(["p"], params)[0]
    hit = CachedBackend(ScriptedBackend({}), cache).generate(["p"], params)[0]
    assert [c.mean_logprob for c in hit] == [c.mean_logprob for c in fresh] == [-0.5, -0.5]
    assert [c.min_logprob for c in hit] == [-1.5, -1.5]
    assert all(c.token_logprobs is None for c in hit)  # only the summaries are kept


def test_cache_backfills_confidence_of_old_entries(tmp_path):
    cache = GenerationCache(tmp_path / "gen.sqlite")
    params = GenerationParams(n=1, temperature=0.7, max_tokens=8, seed=3)
    old = CachedBackend(ScriptedBackend({"p": ["Old step."]}), cache)
    assert old.generate(["p"], params)[0][0].mean_logprob is None  # stored without
    scorer = ConfidentBackend({}, lambda t: -0.4)
    plain = CachedBackend(scorer, cache).generate(["p"], params)[0][0]
    assert plain.mean_logprob is None and not scorer.scored
    filled = CachedBackend(scorer, cache, backfill_confidence=True).generate(["p"], params)
    # scored with the stop string that ended it: sampling counted the token completing it
    assert filled[0][0].mean_logprob == -0.4 and scorer.scored == ["Old step.\n\n"]
    again = CachedBackend(ScriptedBackend({}), cache).generate(["p"], params)[0][0]
    assert again.mean_logprob == -0.4  # stored for the next reader


SCRIPT = {
    "": ["Sure step.", "Unsure step.", "Sure step."],
    "Sure step.\n\n": ["\\boxed{5}" + EOS],
    "Unsure step.\n\n": ["\\boxed{6}" + EOS],
}
LOGPROB = {"Sure step.": -0.1, "Unsure step.": -2.0, "\\boxed{5}": -0.2, "\\boxed{6}": -0.3}


def _mcts(prior_rule: str, logprob=LOGPROB.get) -> Tree:
    env = SearchEnv(
        question=Q,
        backend=ConfidentBackend(SCRIPT, logprob),
        detector=NeverDetector(),
        value=ConstantValue(),
        config=SearchConfig(width=3, simulations=2, prior_rule=prior_rule),
        protocol=StepProtocol(max_depth=3),
    )
    return make_search("mcts").run(env).tree


def test_priors_follow_the_configured_rule():
    tree = _mcts("confidence")
    sure, unsure = tree.children(tree.root)
    assert sure.logprob == -0.1 and sure.min_logprob == pytest.approx(-1.1)
    assert sure.entropy == 0.5
    w_sure, w_unsure = math.exp(-0.1), math.exp(-2.0)
    total = 2 * w_sure + w_unsure  # the identical sample adds its prior to the first
    assert sure.prior == pytest.approx(2 * w_sure / total)
    assert unsure.prior == pytest.approx(w_unsure / total)
    empirical = _mcts("empirical")
    assert [c.prior for c in empirical.children(empirical.root)] == pytest.approx([2 / 3, 1 / 3])
    fallback = _mcts("confidence", lambda text: None)  # a backend without log-probs
    assert [c.prior for c in fallback.children(fallback.root)] == pytest.approx([2 / 3, 1 / 3])


def test_tree_json_keeps_confidence_and_the_expansion_log(tmp_path):
    tree = _mcts("confidence")
    tree.save(tmp_path / "t.json")
    loaded = Tree.load(tmp_path / "t.json")
    sure = loaded.children(loaded.root)[0]
    assert (sure.logprob, sure.entropy) == (-0.1, 0.5)
    log = loaded.root.expansion
    assert log["opened"] == [1, 1, 0]  # the third sample repeats the first
    assert log["mean_logprobs"] == [-0.1, -2.0, -0.1]
    assert log["kinds"] == ["prose", "prose", "prose"]


def test_completion_fields_default_to_none():
    c = Completion("t", 1, 1, "stop")
    assert (c.mean_logprob, c.min_logprob, c.entropy, c.token_logprobs) == (None,) * 4


# --- llama.cpp: the log-probs read while sampling equal a separate forward pass ----------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    from equivpruner.llm.loader import clear_loaded, load_policy

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EQUIVPRUNER_CACHE", str(tmp_path_factory.mktemp("cache")))
        backend = load_policy("embedded:smollm2-135m", n_ctx=1024, n_threads=1)
        yield backend
    clear_loaded()


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_llamacpp_logprobs_equal_a_separate_forward_pass(tiny, temperature):
    from equivpruner.llm.base import Message

    prompt = tiny.chat_prompt([Message("user", "Count from one to ten in words.")])
    params = GenerationParams(n=2, stop=(), temperature=temperature, max_tokens=40, seed=5)
    for c in tiny.generate([prompt], params)[0]:
        assert c.tokens == len(c.token_ids) == len(c.token_logprobs) > 5
        again = tiny.token_logprobs(prompt, c.token_ids)  # one token per decode, as sampled
        assert again == pytest.approx(c.token_logprobs, abs=1e-4)
        assert all(v <= 0 for v in c.token_logprobs)
        assert c.mean_logprob == pytest.approx(sum(again) / len(again), abs=1e-4)
        assert c.min_logprob == pytest.approx(min(again), abs=1e-4)
        assert 0 <= c.entropy < math.log(tiny.llm.n_vocab())
        batched = tiny.token_logprobs(prompt, c.token_ids, batch=64)  # kernel noise only
        assert sum(batched) / len(batched) == pytest.approx(c.mean_logprob, abs=0.05)
    shuffled = list(reversed(c.token_ids))  # other tokens: other log-probs (the check bites)
    assert tiny.token_logprobs(prompt, shuffled) != pytest.approx(c.token_logprobs, abs=0.05)


@pytest.mark.slow
def test_llamacpp_backfill_scores_the_stop_token_and_gives_entropy(tiny):
    """A cache's old entry keeps the text cut before its stop string; the forward pass that
    backfills its confidence scores the stop too and matches what sampling recorded."""
    from equivpruner.llm.base import Message

    prompt = tiny.chat_prompt([Message("user", "Name three fruits, one per line.")])
    params = GenerationParams(n=4, stop=("\n",), temperature=0.7, max_tokens=60, seed=2)
    samples = tiny.generate([prompt], params)[0]
    # sampling may draw a non-canonical split of a word that re-tokenising cannot recover:
    # compare where the text and its stop re-tokenise to the sampled ids
    canonical = [
        c for c in samples
        if c.finish_reason == "stop" and tiny._encode(c.text + params.stop[0]) == c.token_ids
    ]  # fmt: skip
    assert canonical
    for c in canonical:
        filled = tiny.continuation_confidence(prompt, c.text, params.stop[0])
        assert filled["mean_logprob"] == pytest.approx(c.mean_logprob, abs=0.05)
        assert filled["entropy"] == pytest.approx(c.entropy, abs=0.05)


# --- transformers: the same check against the model's own forward pass --------------------

@pytest.fixture(scope="module")
def hf_tiny(tmp_path_factory):
    """A 1-layer random Llama with the embedded MiniLM tokenizer (no download)."""
    pytest.importorskip("torch")
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from equivpruner.llm.hf import TransformersBackend
    from equivpruner.llm.registry import resolve_model

    out = tmp_path_factory.mktemp("hf-tiny")
    tok = AutoTokenizer.from_pretrained(resolve_model("embedded:minilm").path)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return TransformersBackend(str(out))


@pytest.mark.slow
def test_hf_logprobs_equal_a_separate_forward_pass(hf_tiny):
    import torch

    prompt = "what is two plus two"
    params = GenerationParams(n=2, stop=(), temperature=1.0, max_tokens=8, seed=5)
    for c in hf_tiny.generate([prompt], params)[0]:
        assert c.tokens == len(c.token_logprobs) > 0
        head = hf_tiny.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([head + c.token_ids])
        with torch.no_grad():
            logp = torch.log_softmax(hf_tiny.model(ids).logits[0].float(), dim=-1)
        again = [float(logp[len(head) - 1 + j, t]) for j, t in enumerate(c.token_ids)]
        assert again == pytest.approx(c.token_logprobs, abs=1e-4)
        assert c.mean_logprob == pytest.approx(sum(again) / len(again), abs=1e-4)
        assert c.entropy is not None and c.entropy > 0


def test_bench_backfills_only_when_an_arm_reads_confidence(tmp_path):
    from equivpruner.bench.config import BenchConfig
    from equivpruner.bench.runner import with_cache

    cache = GenerationCache(tmp_path / "gen.sqlite")
    plain = BenchConfig(pruners=["none", "exact"])
    gated = BenchConfig(arms=[{"name": "none"}, {"name": "c", "pruner": "exact",
                                                 "prior_rule": "confidence"}])  # fmt: skip
    assert not with_cache(plain, ScriptedBackend({}), cache).backfill_confidence
    assert with_cache(gated, ScriptedBackend({}), cache).backfill_confidence
