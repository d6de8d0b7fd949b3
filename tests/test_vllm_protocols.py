"""vLLM's protocols against a small HTTP server on 127.0.0.1 that answers as vLLM's docs say.

What the server follows (vLLM docs, v0.10 to the current v0.2x series):
- Pooling API, `POST /pooling` ("Pooling API" in docs/models/pooling_models/README.md; process
  reward models in docs/models/pooling_models/reward.md): request `{"model", "input": [text,
  ...], "task"?}`; response `{"id", "object": "list", "created", "model", "data": [{"index",
  "object": "pooling", "data": [[...], ...]}], "usage": {"prompt_tokens", "total_tokens"}}`.
  STEP pooling (vllm/model_executor/layers/pooler, StepPool) gives one row per step tag:
  Qwen2ForProcessRewardModel (step tag `<extra_0>`, id 151651) the softmax over its 2 classes
  [negative, positive]; Math-Shepherd (`--pooler-config` with `step_tag_id` and
  `returned_token_ids` [good, bad]) the probabilities of those tokens. Since v0.11 the PRM's
  task is `token_classify`; `encode` (v0.10) is refused by current servers.
- Chat completions' extra parameters (docs/serving/openai_compatible_server.md, "Extra
  parameters for Chat API"): `add_generation_prompt` (default true) and
  `continue_final_message` (default false; both true is a 400), and vLLM's `stop_reason`.
- `GET /v1/models`; no llama.cpp `/props` (404).
"""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from equivpruner import SearchConfig, StepProtocol, solve
from equivpruner.llm.base import BackendError, GenerationParams, Message
from equivpruner.llm.openai_http import OpenAIBackend, chat_key
from equivpruner.search.stats import SearchStats
from equivpruner.value.http_prm import HttpPRM, step_probability
from equivpruner.value.registry import make_value

Q = "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts?"
STEPS = {  # the scripted policy: assistant text so far -> candidate next steps
    "": ["Blue fiber: 2 bolts.", "White fiber: 2 / 2 = 1 bolt."],
    "Blue fiber: 2 bolts.\n\n": ["White: 1 bolt. Total \\boxed{3}", "Total \\boxed{4}"],
    "White fiber: 2 / 2 = 1 bolt.\n\n": ["Total: 2 + 1 = \\boxed{3}"],
}
GOOD = {  # the scripted PRM: P(good) of a step
    "Blue fiber: 2 bolts.": 0.9,
    "White fiber: 2 / 2 = 1 bolt.": 0.6,
    "White: 1 bolt. Total \\boxed{3}": 0.8,
    "Total \\boxed{4}": 0.1,
    "Total: 2 + 1 = \\boxed{3}": 0.7,
}
SHEPHERD_TAG = "ки"


def chatml(messages: list[dict], add_generation_prompt: bool, continue_final: bool) -> str:
    """The served model's chat template (Qwen's), rendered as vLLM renders it."""
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    if continue_final:  # the final message stays open: no end-of-turn after it
        parts[-1] = parts[-1].removesuffix("<|im_end|>\n")
    elif add_generation_prompt:
        parts.append("<|im_start|>assistant\n")
    return "".join(parts)


class VLLMLike:
    """A ThreadingHTTPServer answering /v1/models, /v1/chat/completions, /pooling and
    /tokenize; every request is recorded as (path, body)."""

    def __init__(self, style: str = "qwen", hang: bool = False, removed_tasks=("encode",)):
        self.style, self.hang, self.removed = style, hang, removed_tasks
        self.requests: list[tuple[str, dict]] = []
        self.prompts: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                owner.requests.append((self.path, {}))
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": owner.model_id(),
                                                                   "object": "model"}]})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append((self.path, body))
                if owner.hang:
                    time.sleep(5)
                    return
                route = {"/v1/chat/completions": owner.chat, "/pooling": owner.pooling,
                         "/tokenize": owner.tokenize}.get(self.path)
                if route is None:
                    self._send(404, {"detail": "Not Found"})
                else:
                    self._send(*route(body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def model_id(self) -> str:
        return "Qwen/Qwen2.5-Math-PRM-7B" if self.style == "qwen" else "math-shepherd-prm"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def error(status: int, message: str) -> tuple[int, dict]:
        return status, {"object": "error", "message": message, "type": "BadRequestError",
                        "param": None, "code": status}

    # ---- /v1/chat/completions --------------------------------------------------------
    def chat(self, body: dict) -> tuple[int, dict]:
        add = body.get("add_generation_prompt", True)
        cont = body.get("continue_final_message", False)
        if add and cont:
            return self.error(400, "Cannot set both `continue_final_message` and "
                                   "`add_generation_prompt` to True.")
        prompt = chatml(body["messages"], add, cont)
        self.prompts.append(prompt)
        partial = prompt.rsplit("<|im_start|>assistant\n", 1)[-1]
        options = STEPS.get(partial, ["Done. \\boxed{3}"])
        seed, n = int(body.get("seed") or 0), int(body.get("n") or 1)
        choices = []
        for k in range(n):
            text = options[(seed + k) % len(options)]
            # vLLM's stop_reason: the stop string that ended the text, null for end-of-sequence
            stop = None if "boxed" in text else (body.get("stop") or [None])[0]
            choice = {"index": k, "message": {"role": "assistant", "content": text},
                      "logprobs": None, "finish_reason": "stop", "stop_reason": stop}
            if body.get("logprobs"):
                top = [{"token": "Yes", "logprob": math.log(0.8)},
                       {"token": "No", "logprob": math.log(0.2)}]
                choice["logprobs"] = {"content": [{"token": "Yes", "logprob": math.log(0.8),
                                                   "top_logprobs": top}]}
            choices.append(choice)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 3 * n,
                 "total_tokens": len(prompt.split()) + 3 * n}
        return 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                     "model": body["model"], "choices": choices, "usage": usage}

    # ---- /pooling ---------------------------------------------------------------------
    def pooling(self, body: dict) -> tuple[int, dict]:
        task = body.get("task")
        if task in self.removed:
            return self.error(400, f"`{task}` task was removed; use `token_embed` or "
                                   "`token_classify` instead.")
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        items, tokens = [], 0
        for i, text in enumerate(inputs):
            items.append({"index": i, "object": "pooling", "data": self.step_rows(text)})
            tokens += len(text.split())
        return 200, {"id": "pool-1", "object": "list", "created": 0, "model": body["model"],
                     "data": items, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def step_rows(self, text: str) -> list[list[float]]:
        """One row per step tag: P of each class (qwen: [negative, positive]; shepherd: the
        returned tokens [good, bad])."""
        if self.style == "qwen":
            answer = text.rsplit("<|im_start|>assistant\n", 1)[-1]
            steps = answer.split("<extra_0>")[:-1]
            return [[1 - GOOD[s], GOOD[s]] for s in steps]
        body = text[len(Q) + 1 :]
        steps = [line.removesuffix(" " + SHEPHERD_TAG) for line in body.split("\n")]
        return [[GOOD[s], 1 - GOOD[s]] for s in steps]

    def tokenize(self, body: dict) -> tuple[int, dict]:
        if "messages" in body:
            text = chatml(body["messages"], body.get("add_generation_prompt", True),
                          body.get("continue_final_message", False))
        else:
            text = body["prompt"]
        return 200, {"count": len(text.split()), "max_model_len": 4096, "tokens": []}


@pytest.fixture
def vllm():
    servers = []

    def start(**kw) -> VLLMLike:
        servers.append(VLLMLike(**kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


# --- the policy: chat completions continue the partial answer ------------------------------


def test_without_props_the_server_renders_and_continues_the_partial_answer(vllm):
    srv = vllm()
    policy = OpenAIBackend(srv.root + "/v1", "policy", backoff=0.0, timeout=5)
    prompt = StepProtocol().prompt(policy, Q, ["Blue fiber: 2 bolts."])
    assert prompt == chat_key(StepProtocol().messages(Q), "Blue fiber: 2 bolts.\n\n")
    [outs] = policy.generate([prompt], GenerationParams(n=2, seed=0, temperature=0.7))
    assert sorted(c.text for c in outs) == sorted(STEPS["Blue fiber: 2 bolts.\n\n"])
    chats = [b for path, b in srv.requests if path == "/v1/chat/completions"]
    assert chats and all(b["continue_final_message"] is True for b in chats)
    assert all(b["add_generation_prompt"] is False for b in chats)
    assert chats[0]["messages"][-1] == {"role": "assistant", "content": "Blue fiber: 2 bolts.\n\n"}
    assert srv.prompts[0].endswith("<|im_start|>assistant\nBlue fiber: 2 bolts.\n\n")
    assert ("/props", {}) in srv.requests  # asked first, found absent (404)


def test_first_step_opens_the_answer_with_the_default_generation_prompt(vllm):
    srv = vllm()
    policy = OpenAIBackend(srv.root + "/v1", "policy", backoff=0.0, timeout=5)
    [outs] = policy.generate([StepProtocol().prompt(policy, Q, [])], GenerationParams(seed=1))
    assert outs[0].text == STEPS[""][1] and outs[0].finish_reason == "stop"  # at "\n\n"
    body = [b for path, b in srv.requests if path == "/v1/chat/completions"][0]
    assert "add_generation_prompt" not in body and "continue_final_message" not in body
    assert srv.prompts[0].endswith("<|im_start|>assistant\n")


def test_self_evaluation_reads_chat_top_logprobs_and_counts_with_tokenize(vllm):
    srv = vllm()
    policy = OpenAIBackend(srv.root + "/v1", "policy", backoff=0.0, timeout=5)
    prompt = policy.chat_prompt([Message("user", "Is 2 + 2 = 4 right?")])
    [probs] = policy.next_token_probs([prompt], ["Yes", "No"])
    assert probs == pytest.approx({"Yes": 0.8, "No": 0.2})
    body = [b for path, b in srv.requests if path == "/v1/chat/completions"][-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    assert policy.count_tokens(prompt) == len(srv.prompts[-1].split()) > 0


def test_a_server_refusing_the_chat_request_names_the_way_out(vllm):
    srv = vllm()
    policy = OpenAIBackend(srv.root + "/v1", "policy", backoff=0.0, timeout=5)
    bad = chat_key([Message("user", "hi")], "x")
    srv.chat = lambda body: VLLMLike.error(400, "continue_final_message is not supported")
    with pytest.raises(BackendError) as err:
        policy.generate([bad], GenerationParams())
    msg = str(err.value)
    assert "HTTP 400" in msg and "not supported" in msg and "--tokenizer" in msg
    assert srv.root in msg and "\n" not in msg


# --- the PRM: vLLM's pooling API -----------------------------------------------------------


def test_qwen_prm_one_batched_request_scores_the_last_step(vllm):
    srv = vllm(style="qwen")
    prm = HttpPRM(srv.root)  # the model from /v1/models, the style from its name
    stats = SearchStats()
    cands = ["White: 1 bolt. Total \\boxed{3}", "Total \\boxed{4}"]
    scores = prm.score(Q, ["Blue fiber: 2 bolts."], cands, stats)
    assert scores == pytest.approx([0.8, 0.1])
    pools = [b for path, b in srv.requests if path == "/pooling"]
    assert len(pools) == 1 and len(pools[0]["input"]) == 2 and "task" not in pools[0]
    assert pools[0]["model"] == "Qwen/Qwen2.5-Math-PRM-7B" and prm.style == "qwen"
    text = pools[0]["input"][0]
    assert text.count("<extra_0>") == 2 and text.endswith("<extra_0><|im_end|>\n")
    assert "<|im_start|>system\nPlease reason step by step" in text
    assert stats.phases["value"].calls == 2 and stats.phases["value"].prompt_tokens > 0


def test_qwen_prm_removes_step_tags_the_policy_wrote(vllm):
    srv = vllm(style="qwen")
    prm = HttpPRM(srv.root, model="Qwen/Qwen2.5-Math-PRM-7B")
    [score] = prm.score(Q, [], ["Blue fiber:<extra_0> 2 bolts."], SearchStats())
    assert srv.requests[-1][1]["input"][0].count("<extra_0>") == 1
    assert score == pytest.approx(0.9)


def test_shepherd_prm_reads_the_good_token_column(vllm):
    srv = vllm(style="shepherd")
    prm = make_value(f"prm-http:{srv.root}/v1#math-shepherd-prm&task=token_classify", None)
    scores = prm.score(Q, ["Blue fiber: 2 bolts."], ["Total \\boxed{4}"], SearchStats())
    assert scores == pytest.approx([0.1]) and prm.style == "shepherd"
    body = srv.requests[-1][1]
    assert body["task"] == "token_classify"
    assert body["input"] == [f"{Q} Blue fiber: 2 bolts. ки\nTotal \\boxed{{4}} ки"]


def test_a_removed_task_name_is_one_line_with_the_server_message(vllm):
    srv = vllm(style="shepherd")
    prm = HttpPRM.from_spec(f"{srv.root}#math-shepherd-prm&task=encode")
    with pytest.raises(BackendError) as err:
        prm.score(Q, [], ["Total \\boxed{4}"], SearchStats())
    assert "HTTP 400" in str(err.value) and "token_classify" in str(err.value)
    assert len([p for p, _ in srv.requests if p == "/pooling"]) == 1  # a 4xx is not retried


@pytest.mark.parametrize(
    "rows, why",
    [([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], "3 step rows for a solution of 2 steps"),
     ([[0.5], [0.5]], "at least 2 finite numbers")],
)
def test_rows_that_do_not_fit_the_steps_say_how_to_serve(vllm, rows, why):
    srv = vllm(style="qwen")
    srv.step_rows = lambda text: rows
    with pytest.raises(BackendError, match=why):
        HttpPRM(srv.root).score(Q, ["Blue fiber: 2 bolts."], ["Total \\boxed{4}"], SearchStats())


def test_logit_rows_get_a_softmax():
    assert step_probability([0.0, math.log(3.0)], 1) == pytest.approx(0.75)
    assert step_probability([0.2, 0.8], 1) == pytest.approx(0.8)


@pytest.mark.parametrize("spec", ["http://h:1#m&style=bogus", "http://h:1#m&colour=red",
                                  "ftp://h:1#m"])
def test_bad_prm_specs_are_refused(spec):
    with pytest.raises(ValueError):
        HttpPRM.from_spec(spec)


def test_prm_scores_reach_the_tree_through_a_beam_search(vllm):
    """Policy and PRM both on the vLLM-like server: every node's value is the PRM's score."""
    srv = vllm(style="qwen")
    policy = OpenAIBackend(srv.root + "/v1", "policy", backoff=0.0, timeout=5)
    config = SearchConfig(width=2, beam_width=2, seed=0, temperature=0.7)
    result = solve(Q, model=policy, search="beam", pruner="exact",
                   value=f"prm-http:{srv.root}", config=config)
    scored = [n for n in result.tree.nodes[1:] if n.value is not None]
    assert len(scored) >= 3
    for node in scored:
        assert node.value == pytest.approx(GOOD[node.text])
    assert result.answer == "3"
    assert any(p == "/pooling" for p, _ in srv.requests)


def test_a_one_step_answer_sent_flat_is_read_as_one_row(vllm):
    """`data` may be `list[float]` (PoolingResponseData allows it): one step, one row."""
    srv = vllm(style="qwen")
    srv.step_rows = lambda text: [0.3, 0.7]
    assert HttpPRM(srv.root).score(Q, [], ["Total \\boxed{4}"], SearchStats()) == [
        pytest.approx(0.7)]


@pytest.mark.parametrize("url", ["http://h:8001", "http://h:8001/", "http://h:8001/v1",
                                 "http://h:8001/pooling"])
def test_the_prm_url_may_name_the_root_v1_or_pooling(url):
    assert HttpPRM(url).url == "http://h:8001/pooling"
