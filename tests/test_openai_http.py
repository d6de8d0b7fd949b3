"""OpenAIBackend against a tiny in-test HTTP server (canned JSON, 500s, garbage, no server, a
server that never answers), and `solve` on a server that is down or silent."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from equivpruner.cli.app import app
from equivpruner.llm.base import BackendError, GenerationParams, Message
from equivpruner.llm.openai_http import OpenAIBackend, chat_key, match_candidates


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
def test_garbage_is_reported_at_once_without_internal_names(serve, body):
    srv = serve((200, body))
    with pytest.raises(BackendError) as err:
        backend(srv.url).generate(["p"], GenerationParams())
    msg = str(err.value)
    assert msg.startswith(f"server at {srv.url}: did not send a valid completions response")
    assert "_Garbage" not in msg and "Failure" not in msg and "\n" not in msg
    assert len(srv.requests) == 1


def test_client_error_is_not_retried(serve):
    srv = serve((400, {"error": {"message": "bad model"}}))
    with pytest.raises(BackendError, match="HTTP 400"):
        backend(srv.url, logprobs=0).generate(["p"], GenerationParams())
    assert len(srv.requests) == 1


def free_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def retries(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]


def test_server_down_says_connection_refused_and_each_retry(caplog):
    url = free_url()
    caplog.set_level(logging.WARNING, logger="equivpruner.http")
    with pytest.raises(BackendError) as err:
        OpenAIBackend(url, "m", backoff=0.0, timeout=2, max_retries=3).generate(
            ["p"], GenerationParams()
        )
    msg = str(err.value)
    assert msg.startswith(f"server at {url}: connection refused")
    assert msg.endswith("gave up after 3 tries") and "\n" not in msg
    said = retries(caplog)  # three tries: two retries, each announced
    assert len(said) == 2 and all("connection refused" in m and url in m for m in said)
    assert "try 2 of 3" in said[0] and "try 3 of 3" in said[1]


def test_500_is_reported_as_500_not_as_unreachable(serve):
    srv = serve((500, {"error": {"message": "CUDA out of memory"}}))
    with pytest.raises(BackendError) as err:
        backend(srv.url).chat_prompt([Message("user", "hi")], "Step 1.")
    msg = str(err.value)
    assert "answered HTTP 500: CUDA out of memory" in msg and "reachable" not in msg
    assert srv.requests[0][0] == "/props" and len(srv.requests) == 3


class Silent:
    """Accepts connections and reads requests, but never answers (a hung server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent():
    srv = Silent()
    yield srv
    srv.close()


def test_a_silent_server_is_awaited_aloud_then_given_up_at_the_timeout(silent, caplog):
    caplog.set_level(logging.WARNING, logger="equivpruner.http")
    b = OpenAIBackend(silent.url, "m", backoff=0.0, timeout=0.6, max_retries=3)
    with pytest.raises(BackendError) as err:
        b.generate(["p"], GenerationParams())
    assert str(err.value) == (
        f"server at {silent.url}: no answer within 0.6 s (the timeout; --timeout sets it)"
    )
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting")]
    assert len(waits) == 1 and silent.url in waits[0] and "gives up at 0.6 s" in waits[0]
    assert len(silent.accepted) == 1 and not retries(caplog)  # a timeout is not retried


def test_solve_on_a_server_that_is_down_fails_fast_with_the_url(caplog):
    url = free_url()
    caplog.set_level(logging.WARNING, logger="equivpruner.http")
    result = CliRunner().invoke(app, ["solve", "--model", f"openai:{url}#x", "What is 2+2?"])
    assert result.exit_code == 1, result.output
    assert f"error: server at {url}: connection refused" in result.output
    assert "Traceback" not in result.output and "does not publish" not in result.output
    assert len(retries(caplog)) == 2  # 3 tries, 0.5 s and 1 s apart


def test_solve_on_a_silent_server_gives_up_at_the_timeout_option(silent, caplog):
    caplog.set_level(logging.WARNING, logger="equivpruner.http")
    args = ["solve", "--model", f"openai:{silent.url}#x", "--timeout", "0.5", "What is 2+2?"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert f"error: server at {silent.url}: no answer within 0.5 s" in result.output
    assert any(r.getMessage().startswith("waiting for") for r in caplog.records)
    assert len(silent.accepted) == 1


@pytest.mark.parametrize("flag", [["--timeout", "0"], ["--timeout", "-3"], ["--tokenizer", " "]])
def test_server_options_are_checked_before_anything_runs(flag):
    result = CliRunner().invoke(app, ["solve", "--model", "openai:http://127.0.0.1:9/v1#x",
                                      *flag, "What is 2+2?"])
    assert result.exit_code == 2 and "error:" in result.output


def test_server_options_are_refused_for_local_models():
    result = CliRunner().invoke(
        app, ["solve", "--model", "embedded:smollm2-135m", "--tokenizer", "gpt2", "2+2?"],
        obj={"load_backend": lambda spec, **opts: pytest.fail("loaded a model")},
    )
    assert result.exit_code == 2 and "--tokenizer applies to openai: server models" in result.output


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


def test_chat_prompt_without_props_leaves_rendering_to_the_server(serve):
    srv = serve((404, {"error": "nope"}))
    prompt = backend(srv.url).chat_prompt([Message("user", "hi")], "Step 1.\n\n")
    assert prompt == chat_key([Message("user", "hi")], "Step 1.\n\n")
    assert [path for path, _ in srv.requests] == ["/props"]  # a 404 is not retried


TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A local HF tokenizer with a chat template (the embedded MiniLM's, template added)."""
    transformers = pytest.importorskip("transformers")
    from equivpruner.llm.registry import resolve_model

    tok = transformers.AutoTokenizer.from_pretrained(resolve_model("embedded:minilm").path)
    tok.chat_template = TEMPLATE
    out = tmp_path_factory.mktemp("tokenizer")
    tok.save_pretrained(out)
    return str(out)


def test_cli_tokenizer_renders_here_and_uses_raw_completions(serve, tokenizer_dir):
    body = completion_json({"text": "So 2 + 2 = \\boxed{4}", "finish_reason": "stop",
                            "stop_reason": None})
    srv = serve((200, body))
    args = ["solve", "--model", f"openai:{srv.url}#m", "--tokenizer", tokenizer_dir, "--json",
            "What is 2+2?"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["answer"] == "4"
    paths = [path for path, _ in srv.requests]
    assert "/props" not in paths and "/v1/completions" in paths
    prompt = next(r["prompt"] for path, r in srv.requests if path == "/v1/completions")
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")


def test_the_model_spec_carries_tokenizer_and_timeout(tokenizer_dir):
    from equivpruner.llm.loader import load_policy

    spec = f"openai:http://127.0.0.1:9/v1#served&tokenizer={tokenizer_dir}&timeout=7.5"
    policy = load_policy(spec)
    assert (policy.model, policy.timeout, policy._tokenizer_spec) == ("served", 7.5,
                                                                      tokenizer_dir)
    assert policy.chat_prompt([Message("user", "hi")], "Step") == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nStep")
    with pytest.raises(BackendError, match="bad option 'colour=red'"):
        load_policy("openai:http://127.0.0.1:9/v1#served&colour=red")
