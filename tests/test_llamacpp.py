"""LlamaCppBackend on the real embedded SmolLM2-135M GGUF (plumbing only; it can't do math)."""

from __future__ import annotations

import pytest

from equivpruner.llm.base import BackendError, GenerationParams, Message

pytestmark = pytest.mark.slow

SPEC = "embedded:smollm2-135m"
MESSAGES = [Message("system", "You are a helpful assistant."),
            Message("user", "Name three colours, one per paragraph.")]


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    from equivpruner.llm.loader import clear_loaded, load_policy

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EQUIVPRUNER_CACHE", str(tmp_path_factory.mktemp("cache")))
        backend = load_policy(SPEC, n_ctx=1024, n_threads=1)
        assert load_policy(SPEC, n_ctx=1024, n_threads=1) is backend
        yield backend
    clear_loaded()


def test_chat_prompt_uses_the_models_template(llm):
    prompt = llm.chat_prompt(MESSAGES, "Red.\n\n")
    assert "<|im_start|>system\nYou are a helpful assistant.<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\nRed.\n\n")


def test_generate_n_with_stop(llm):
    params = GenerationParams(n=3, stop=("\n\n",), temperature=0.8, max_tokens=40, seed=1)
    [outs] = llm.generate([llm.chat_prompt(MESSAGES)], params)
    assert len(outs) == 3
    for c in outs:
        assert c.tokens > 0 and c.prompt_tokens > 10
        assert c.finish_reason in ("stop", "eos", "length")
        assert "\n\n" not in c.text
        assert c.tokens <= 40


def test_same_seed_same_texts(llm):
    prompt = llm.chat_prompt(MESSAGES)
    params = GenerationParams(n=2, temperature=1.0, max_tokens=24, seed=7)
    first = [c.text for c in llm.generate([prompt], params)[0]]
    llm.generate([llm.chat_prompt([Message("user", "Hi")])], params)  # disturb the KV cache
    again = [c.text for c in llm.generate([prompt], params)[0]]
    assert first == again


def test_greedy_siblings_agree(llm):
    params = GenerationParams(n=2, temperature=0.0, max_tokens=16, seed=3)
    [outs] = llm.generate([llm.chat_prompt(MESSAGES)], params)
    assert outs[0].text == outs[1].text


def test_length_and_eos_reasons(llm):
    story = llm.chat_prompt([Message("user", "Write a long story about a dragon.")])
    [[cut]] = llm.generate([story], GenerationParams(stop=(), max_tokens=5, temperature=0.0))
    assert (cut.finish_reason, cut.tokens) == ("length", 5)
    short = llm.chat_prompt([Message("user", "Say hello.")])
    [[done]] = llm.generate([short], GenerationParams(stop=(), max_tokens=200, temperature=0.0))
    assert done.finish_reason == "eos" and "<|im_end|>" not in done.text


def test_next_token_probs_agree_with_greedy_decoding(llm):
    prompt = llm.chat_prompt([Message("user", "Is the sky blue? Answer Yes or No.")])
    [[first]] = llm.generate([prompt], GenerationParams(max_tokens=1, temperature=0.0))
    word = first.text.strip()
    assert word
    [probs] = llm.next_token_probs([prompt], [word, "Zebra"])
    assert set(probs) == {word, "Zebra"}
    assert sum(probs.values()) == pytest.approx(1.0)
    assert probs[word] > 0.9


def test_count_tokens_and_context_overflow(llm):
    assert llm.count_tokens("Hello world") >= 2
    with pytest.raises(BackendError, match="context"):
        llm.generate(["word " * 2000], GenerationParams(max_tokens=4))


def test_kth_sample_is_the_same_in_a_wave_of_one_or_five_and_in_a_rerun(llm):
    """State-keyed seeds: sample k at a prompt uses seed + k, whatever the wave size."""
    prompt = llm.chat_prompt(MESSAGES)
    params = GenerationParams(n=5, stop=("\n\n",), temperature=0.9, max_tokens=24, seed=7)
    [wave] = llm.generate([prompt], params)
    ones = [
        llm.generate([prompt], GenerationParams(**{**params.__dict__, "n": 1, "index": k}))[0][0]
        for k in range(5)
    ]
    assert [c.text for c in ones] == [c.text for c in wave]
    [again] = llm.generate([prompt], params)
    assert [c.text for c in again] == [c.text for c in wave]
    assert len({c.text for c in wave}) > 1  # the seeds do differ between samples


def test_scoring_keeps_the_policys_cached_prefix_and_matches_one_context(llm):
    """Judge prompts run in their own context: the policy's KV prefix survives them."""
    from equivpruner.llm.loader import load_policy

    prompt = llm.chat_prompt(MESSAGES)
    judge = llm.chat_prompt([Message("system", "You check answers."),
                             Message("user", "Is red a colour? Answer Yes or No.")])
    llm.generate([prompt], GenerationParams(max_tokens=4, temperature=0.0))
    toks = llm.tokens(prompt)
    [probs] = llm.next_token_probs([judge], ["Yes", "No"])
    assert llm.llm.input_ids[: len(toks)].tolist() == toks
    assert llm.scorer is not llm.llm
    single = load_policy(SPEC, n_ctx=1024, n_threads=1, score_context=False)
    assert single.scorer is single.llm
    [same] = single.next_token_probs([judge], ["Yes", "No"])
    assert same["Yes"] == pytest.approx(probs["Yes"], abs=1e-3)
