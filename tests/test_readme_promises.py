"""README promises no other test covered, each on the real part where it runs here: YAML arms
written as dicts, an unreachable hub reported after one short attempt, llama.cpp's thread
count, the generation cache keyed by the model's sha256, `bench --cache` / `--no-cache`, and
the shipped cross-encoder behind `cascade-ce`."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from equivpruner.bench.config import BenchConfig
from equivpruner.bench.runner import run_bench

from .cli_helpers import one_error_line, real_cli, refuse_models
from .test_bench import SlowBackend

ROOT = Path(__file__).resolve().parents[1]
SMOL = "smollm2-135m"


# --- YAML arms written as dicts (fast) -------------------------------------------------------


def test_shipped_yaml_arms_written_as_dicts_set_their_search():
    cfg = BenchConfig.from_yaml(ROOT / "benchmarks" / "configs" / "adaptive-40.yaml")
    names = ["none", "cascade", "cascade-adaptive", "cascade-adaptive-sgc", "bon5", "bon5-adaptive"]
    assert cfg.pruners == names
    assert [cfg.arm(n)["pruner"] for n in names] == ["none", "cascade", "cascade", "cascade",
                                                     "none", "none"]  # fmt: skip
    sc = {n: cfg.search_config(0, n) for n in names}
    assert (sc["cascade-adaptive"].width_rule, sc["cascade-adaptive"].min_width) == ("new-group", 2)
    assert sc["none"].width_rule == sc["cascade"].width_rule != "new-group"
    assert sc["cascade-adaptive-sgc"].single_group_commit
    assert not sc["cascade-adaptive"].single_group_commit
    assert [cfg.arm_search(n) for n in names] == ["mcts"] * 4 + ["bon"] * 2
    assert (sc["bon5"].n_samples, sc["bon5"].adaptive_stop) == (5, False)
    assert (sc["bon5-adaptive"].n_samples, sc["bon5-adaptive"].adaptive_stop) == (5, True)


def test_a_dict_arm_runs_with_its_own_search(tmp_path):
    data = tmp_path / "probs.jsonl"
    data.write_text(json.dumps({"question": "What is 2 + 5?", "answer": "7"}) + "\n")
    (tmp_path / "c.yaml").write_text(
        f"datasets: [{{name: {data}}}]\nsearch: mcts\nwidth: 3\nsimulations: 2\n"
        "value: constant\narms:\n  - {name: none}\n"
        "  - {name: narrow, pruner: exact, width: 1}\n"
        "  - {name: bon4, pruner: none, search: bon, n_samples: 4}\n"
        f"out: {tmp_path / 'out'}\ncache: none\n"
    )
    records = run_bench(BenchConfig.from_yaml(tmp_path / "c.yaml"), backend=SlowBackend(),
                        progress=False)  # fmt: skip
    by_arm = {r["arm"]: r for r in records}
    assert set(by_arm) == {"none", "narrow", "bon4"}
    assert all(r["status"] == "ok" for r in records)
    # mcts draws `width` siblings per expansion; best-of-4 draws four whole solutions
    assert by_arm["none"]["siblings_generated"] == 3 * by_arm["none"]["expansions"]
    assert by_arm["narrow"]["siblings_generated"] == by_arm["narrow"]["expansions"]
    tree = json.loads((tmp_path / "out" / by_arm["bon4"]["tree"]).read_text())
    assert len([n for n in tree["nodes"] if n["parent"] == 0]) == 4


# --- an unreachable hub is reported at once (one short attempt, no download) ----------------


def test_unreachable_hub_costs_one_short_connection_attempt(monkeypatch, tmp_path):
    from equivpruner.cli.inputs import HUB_TIMEOUT_S

    refuse_models(monkeypatch)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid:443")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    attempts = []

    def silent_hub(address, timeout=None, *args, **kwargs):
        """A hub that never answers: each attempt would cost its whole timeout."""
        attempts.append((address, timeout))
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", silent_hub)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: attempts.append("dl"))
    line = one_error_line(real_cli("solve", "--model", "nobody/no-such:model.gguf", "What is 1+1?"))
    assert "cannot be reached" in line and "hub.invalid:443" in line
    assert attempts == [(("hub.invalid", 443), HUB_TIMEOUT_S)]  # one attempt, never a download
    assert HUB_TIMEOUT_S <= 5  # "reported in a few seconds": one attempt of at most this


# --- the real tiny model, the shipped cross-encoder, sqlite (slow) ---------------------------


@pytest.fixture(scope="module")
def smol() -> Path:
    from equivpruner.llm.registry import embedded_path

    pytest.importorskip("llama_cpp")
    return embedded_path(SMOL)


@pytest.mark.slow
def test_llamacpp_threads_env_overrides_half_the_cores(smol, monkeypatch):
    import llama_cpp

    from equivpruner.llm.llamacpp import LlamaCppBackend

    def threads() -> tuple[int, int]:
        llm = LlamaCppBackend(smol, n_ctx=256).llm  # what the real llama.cpp context runs with
        return llama_cpp.llama_n_threads(llm.ctx), llama_cpp.llama_n_threads_batch(llm.ctx)

    monkeypatch.delenv("EQUIVPRUNER_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)))  # six usable cores
    assert threads() == (3, 3)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert threads() == (1, 1)
    monkeypatch.setenv("EQUIVPRUNER_THREADS", "5")
    assert threads() == (5, 5)


def _gguf_with_another_name(src: Path, dst: Path) -> Path:
    """A copy of `src` whose `general.name` metadata differs by one letter (other bytes,
    the same weights: llama.cpp loads it, its sha256 differs)."""
    data = bytearray(src.read_bytes())
    key = data.find(b"general.name")
    value = key + len(b"general.name") + 4 + 8  # uint32 type, uint64 length, then the text
    assert data[value : value + 7] == b"Smollm2", "the GGUF's metadata moved"
    data[value + 6 : value + 7] = b"3"
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.slow
def test_generation_cache_is_keyed_by_the_models_sha256(smol, tmp_path, monkeypatch):
    from equivpruner.llm.base import GenerationParams, Message
    from equivpruner.llm.cache import CachedBackend, GenerationCache
    from equivpruner.llm.llamacpp import LlamaCppBackend
    from equivpruner.llm.registry import EMBEDDED_MODELS

    monkeypatch.setenv("EQUIVPRUNER_CACHE", str(tmp_path / "cache"))
    renamed = tmp_path / "renamed-copy.gguf"
    shutil.copyfile(smol, renamed)
    other = _gguf_with_another_name(smol, tmp_path / "other-bytes.gguf")
    cache = GenerationCache(tmp_path / "generations.sqlite")
    params = GenerationParams(n=2, seed=11, temperature=0.8, max_tokens=6, stop=("\n\n",))

    def draw(path: Path):
        backend = CachedBackend(LlamaCppBackend(path, n_ctx=256, n_threads=1), cache)
        prompt = backend.chat_prompt([Message("user", "Name a colour.")])
        texts = [c.text for c in backend.generate([prompt], params)[0]]
        counters = backend.take_counters()
        return backend.identity, (counters.hits, counters.misses), texts

    first, renamed_copy, changed = draw(smol), draw(renamed), draw(other)
    assert first[0] == f"gguf-sha256:{EMBEDDED_MODELS[SMOL].sha256}"
    assert first[1] == (0, 2)
    assert renamed_copy[:2] == (first[0], (2, 0)) and renamed_copy[2] == first[2]
    assert changed[0] != first[0] and changed[1] == (0, 2)
    assert cache.size() == 4


@pytest.mark.slow
def test_bench_cache_path_and_no_cache(smol, tmp_path):
    from equivpruner.llm.cache import GenerationCache

    data = tmp_path / "probs.jsonl"
    data.write_text(json.dumps({"question": "What is 2 + 3?", "answer": "5"}) + "\n")
    common = ["bench", "--dataset", str(data), "--model", f"embedded:{SMOL}", "--pruners",
              "none", "--width", "2", "--simulations", "1", "--value", "constant",
              "--max-depth", "2", "--max-step-tokens", "8"]  # fmt: skip
    default_cache = Path(os.environ["EQUIVPRUNER_GENERATION_CACHE"])
    mine = tmp_path / "mine.sqlite"

    def run(out: str, *extra: str) -> dict:
        result = real_cli(*common, "--out", str(tmp_path / out), *extra)
        assert result.exit_code == 0, result.output
        lines = (tmp_path / out / "results.jsonl").read_text().splitlines()
        (record,) = [json.loads(x) for x in lines]
        return record

    first = run("one", "--cache", str(mine))
    entries = GenerationCache(mine).size()
    again = run("two", "--cache", str(mine))
    assert first["cache_misses"] == entries > 0  # every sample drawn was stored there
    assert again["cache_misses"] == 0  # and read back by the second run
    assert again["cache_hits"] == first["cache_hits"] + first["cache_misses"]
    assert not default_cache.exists()  # --cache PATH, not the default file
    uncached = run("three", "--no-cache")
    assert uncached.get("cache_hits", 0) == 0 and not default_cache.exists()
    assert GenerationCache(mine).size() == entries
    for r in (again, uncached):  # the same samples, generated or read
        assert (r["answer"], r["generated_tokens"]) == (first["answer"], first["generated_tokens"])


# Steps with no arithmetic and middling lexical overlap: only the final stage can decide them.
CE_QUESTION = "Tom has 5 apples and buys 3 more. Then he gives 2 to Ann. How many are left?"
CE_STEPS = [
    "Let's figure out how many apples Tom has in total.",
    "We need to find how many apples Tom has.",
    "We need to find how many apples Tom gives to Ann.",
]


@pytest.mark.slow
def test_cascade_ce_loads_and_runs_the_shipped_cross_encoder():
    pytest.importorskip("peft")
    import torch
    from safetensors.torch import load_file

    from equivpruner.equiv.base import Context
    from equivpruner.equiv.cross_encoder import CrossEncoderDetector
    from equivpruner.equiv.registry import make_detector
    from equivpruner.equiv.weights import ADAPTER_FILE, ASSET_DIR

    cascade = make_detector("cascade-ce")
    final = cascade.final
    assert isinstance(final, CrossEncoderDetector) and Path(final.checkpoint) == ASSET_DIR
    verdicts = cascade.compare(CE_STEPS, [(0, 1), (1, 2)], Context(question=CE_QUESTION))
    assert [v.stage for v in verdicts] == [final.name] * 2, verdicts  # the cheap stages pass
    assert all(0.0 < v.probability < 1.0 for v in verdicts), verdicts
    # the same goal reworded scores above a different quantity asked for
    assert verdicts[0].probability > verdicts[1].probability, verdicts
    # the classifier that ran is the shipped one (a base model's fresh head would differ)
    saved = load_file(str(ASSET_DIR / ADAPTER_FILE))
    model = final._loaded()[1]
    assert torch.equal(model.classifier.weight, saved["base_model.model.classifier.weight"])


class Recording:
    """A real backend that keeps the prompts it was given and the answers it wrote."""

    def __init__(self, backend):
        self.backend, self.prompts, self.answers = backend, [], []

    def chat_prompt(self, messages, assistant_prefix=""):
        return self.backend.chat_prompt(messages, assistant_prefix)

    def generate(self, prompts, params):
        out = self.backend.generate(prompts, params)
        self.prompts += prompts
        self.answers += [c[0].text for c in out]
        return out


@pytest.mark.slow
def test_llm_judge_on_the_tiny_model(smol):
    from equivpruner.equiv.base import Context
    from equivpruner.equiv.llm_judge import RUBRIC, LLMJudgeDetector, parse_level
    from equivpruner.llm.llamacpp import LlamaCppBackend

    backend = Recording(LlamaCppBackend(smol, n_ctx=2048, n_threads=1))
    judge = LLMJudgeDetector(backend, max_tokens=24)
    steps = ["3 × 4 = 12 apples.", "Multiply 4 by 3 to get 12 apples.", "The train leaves at 5."]
    context = Context(question="How many apples are in 3 bags of 4 apples?")
    verdicts = judge.compare(steps, [(0, 1), (0, 2)], context)
    assert len(backend.answers) == 2 and all(a.strip() for a in backend.answers)
    assert all(p.startswith("<|im_start|>") and RUBRIC in p for p in backend.prompts)
    for v, answer in zip(verdicts, backend.answers, strict=True):  # the model's own answer
        level = parse_level(answer)
        assert v.stage == "llm-judge"
        assert v.probability == (0.5 if level is None else level / 4)
        assert v.equivalent == (None if level is None else level >= 3)
    assert judge.compare(steps, [(0, 1), (0, 2)], context) == verdicts  # greedy: repeatable
