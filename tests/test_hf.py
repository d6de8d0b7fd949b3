"""TransformersBackend: pure helpers, and plumbing on a tiny random model built offline."""

from __future__ import annotations

import pytest

from equivpruner.llm.base import GenerationParams, Message
from equivpruner.llm.hf import split_generation

WORDS = {1: "Step", 2: " one", 3: ".\n\n", 4: " two", 0: "<eos>"}


def decode(ids):
    return "".join(WORDS[i] for i in ids)


def test_split_generation_stop_eos_length():
    assert split_generation([1, 2, 3, 4, 0, 0], ["\n\n"], {0}, decode) == ("Step one.", 4, "stop")
    assert split_generation([1, 2, 0, 0], ["\n\n"], {0}, decode) == ("Step one", 2, "eos")
    assert split_generation([1, 2, 4], ["\n\n"], {0}, decode) == ("Step one two", 3, "length")
    assert split_generation([1, 3, 4], [], {0}, decode) == ("Step.\n\n two", 3, "length")


CHATML = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 1-layer random Llama with the embedded MiniLM tokenizer (no download)."""
    pytest.importorskip("torch")
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from equivpruner.llm.hf import TransformersBackend
    from equivpruner.llm.registry import resolve_model

    out = tmp_path_factory.mktemp("tiny")
    tok = AutoTokenizer.from_pretrained(resolve_model("embedded:minilm").path)
    tok.chat_template = CHATML
    tok.eos_token = "[SEP]"
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return TransformersBackend(str(out))


@pytest.mark.slow
def test_tiny_model_plumbing(tiny):
    prompt = tiny.chat_prompt([Message("user", "what is two plus two")], "step")
    assert prompt.endswith("<|assistant|> step")
    params = GenerationParams(n=3, stop=("\n\n",), temperature=1.0, max_tokens=8, seed=5)
    outs = tiny.generate([prompt, "hello world"], params)
    assert [len(o) for o in outs] == [3, 3]
    for c in outs[0] + outs[1]:
        assert c.finish_reason in ("stop", "eos", "length") and 0 <= c.tokens <= 8
        assert c.prompt_tokens > 0
    again = tiny.generate([prompt, "hello world"], params)
    assert [[c.text for c in o] for o in outs] == [[c.text for c in o] for o in again]
    [probs] = tiny.next_token_probs([prompt], ["yes", "no"])
    assert sum(probs.values()) == pytest.approx(1.0)
    assert tiny.count_tokens("hello world") == 2
