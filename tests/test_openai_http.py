"""OpenAIBackend against a tiny in-test HTTP server (canned JSON, 500s, garbage, no server)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from equivpruner.llm.base import BackendError, GenerationParams, Message
from equivpruner.llm.openai_http import OpenAIBackend, match_candidates


class FakeServer:
    """Serves queued (status, body) replies; the last one repeats. Records request bodies."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests: list[tuple[str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                owner.requests.append((self.path, json.loads(raw or b"{}")))
                status, body = owner.replies.pop(0) if len(owner.replies) > 1 else owner.replies[0]
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _reply
            do_GET = _reply

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(*replies):
        servers.append(FakeServer(replies))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def completion_json(*choices, prompt_tokens=7, completion_tokens=9):
    return {
        "id": "c1", "object": "text_completion", "model": "m",
        "choices": [{"index": i, **c} for i, c in enumerate(choices)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def backend(url, **kw):
    return OpenAIBackend(url, "m", backoff=0.0, timeout=5, **kw)


def test_generate_passes_n_stop_and_maps_reasons(serve):
    body = completion_json(
        {"text": "Step one.", "finish_reason": "stop", "stop_reason": "\n\n"},
        {"text": "Done.", "finish_reason": "stop", "stop_reason": None},
        {"text": "Long long", "finish_reason": "length"},
    )
    srv = serve((200, body))
    params = GenerationParams(n=3, stop=("\n\n",), temperature=0.5, max_tokens=20)
    [outs] = backend(srv.url).generate(["Q: 1+1?"], params)
    assert [c.text for c in outs] == ["Step one.", "Done.", "Long long"]
    assert [c.finish_reason for c in outs] == ["stop", "eos", "length"]
    assert all(c.prompt_tokens == 7 for c in outs)
    assert sum(c.tokens for c in outs) == 9
    path, req = srv.requests[0]
    assert path == "/v1/completions"
    assert req["n"] == 3 and req["stop"] == ["\n\n"] and "seed" not in req
    assert req["prompt"] == "Q: 1+1?" and req["max_tokens"] == 20 and req["model"] == "m"


def test_server_ignoring_n_is_asked_again(serve):
    one = completion_json({"text": "x", "finish_reason": "stop"})
    srv = serve((200, one))
    [outs] = backend(srv.url).generate(["p"], GenerationParams(n=3))
    assert len(outs) == 3 and len(srv.requests) == 3
    assert [r["n"] for _, r in srv.requests] == [3, 2, 1]
    assert outs[0].finish_reason == "stop"  # stop strings requested, server can't say more


def test_seeded_samples_are_one_request_per_sample_index(serve):
    """With a seed, sample k is requested alone with seed + index + k, so a wave of one and
    a wave of three ask the server for the same k-th sample."""
    one = completion_json({"text": "x", "finish_reason": "stop"})
    srv = serve((200, one))
    b = backend(srv.url)
    b.generate(["p"], GenerationParams(n=3, seed=4))
    b.generate(["p"], GenerationParams(n=1, seed=4, index=2))
    seeds = [r["seed"] for _, r in srv.requests]
    assert sorted(seeds[:3]) == [4, 5, 6] and seeds[3] == 6
    assert all(r["n"] == 1 for _, r in srv.requests)


def test_retries_5xx_then_succeeds(serve):
    ok = completion_json({"text": "fine", "finish_reason": "stop"})
    srv = serve((500, {"error": "boom"}), (502, {"error": "boom"}), (200, ok))
    [outs] = backend(srv.url).generate(["p"], GenerationParams())
    assert outs[0].text == "fine" and len(srv.requests) == 3


def test_persistent_5xx_gives_one_line_error(serve):
    srv = serve((500, {"error": "boom"}))
    with pytest.raises(BackendError) as err:
        backend(srv.url).generate(["p"], GenerationParams())
    msg = str(err.value)
    assert "\n" not in msg and "after 3 tries" in msg and srv.url in msg
    assert len(srv.requests) == 3


@pytest.mark.parametrize("body", [b"<html>oops</html>", {"choices": []}, {"foo": 1},
                                  {"choices": [{"index": 0}]}])
def test_garbage_is_retried_then_reported(serve, body):
    srv = serve((200, body))
    with pytest.raises(BackendError, match="valid completions response after 3 tries"):
        backend(srv.url).generate(["p"], GenerationParams())
    assert len(srv.requests) == 3


def test_client_error_is_not_retried(serve):
    srv = serve((400, {"error": {"message": "bad model"}}))
    with pytest.raises(BackendError, match="HTTP 400"):
        backend(srv.url).generate(["p"], GenerationParams())
    assert len(srv.requests) == 1


def test_server_down_is_one_line_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(BackendError) as err:
        OpenAIBackend(url, "m", backoff=0.0, timeout=2, max_retries=2).generate(
            ["p"], GenerationParams()
        )
    assert str(err.value).startswith(f"server at {url} is not reachable after 2 tries")
    assert "\n" not in str(err.value)


def test_next_token_probs_from_top_logprobs(serve):
    top = {" Yes": -0.2, "Yes": -2.0, " No": -1.5, "Maybe": -3.0}
    body = completion_json({"text": " Yes", "finish_reason": "length",
                            "logprobs": {"top_logprobs": [top]}})
    srv = serve((200, body))
    [probs] = backend(srv.url).next_token_probs(["Is it?"], ["Yes", "No"])
    assert probs["Yes"] > probs["No"] > 0
    assert sum(probs.values()) == pytest.approx(1.0)
    req = srv.requests[0][1]
    assert req["max_tokens"] == 1 and req["logprobs"] == 20


def test_match_candidates_uniform_when_absent():
    assert match_candidates({"foo": -0.1}, ["Yes", "No"]) == {"Yes": 0.5, "No": 0.5}


def test_chat_prompt_uses_llamacpp_props_template(serve):
    template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    srv = serve((200, {"chat_template": template}))
    prompt = backend(srv.url).chat_prompt([Message("user", "2+2?")], "Step 1.\n\n")
    assert prompt == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\nStep 1.\n\n"
    assert srv.requests[0][0] == "/props"


def test_chat_prompt_without_template_says_pass_tokenizer(serve):
    srv = serve((404, {"error": "nope"}))
    with pytest.raises(BackendError, match="tokenizer="):
        backend(srv.url).chat_prompt([Message("user", "hi")])
