"""Talking to model servers: every failure said as what it is, retries that say so, and a
notice while a slow server is awaited.

A try fails with `Failure(text, retry)`: connection refused or reset, HTTP 5xx and 429 may
pass, so they are retried with exponential backoff (each retry logged as a warning); no answer
within `timeout` seconds, a 4xx and a body that is not what was asked for are not retried.
`with_retries` turns the last failure into one `BackendError` line naming the server.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, TypeVar

from .base import BackendError

log = logging.getLogger("equivpruner.http")
DEFAULT_TIMEOUT = 300.0  # seconds for one answer, queueing included (`--timeout`)
NOTICE_AFTER = 10.0  # seconds of silence before "waiting for …" is logged
T = TypeVar("T")


class Failure(Exception):
    """One failed try; `retry` says whether another try may help."""

    def __init__(self, text: str, retry: bool, status: int | None = None):
        super().__init__(text)
        self.text, self.retry, self.status = text, retry, status


def one_line(text: object, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_detail(body: bytes | str | None) -> str:
    """The message of an error body (OpenAI's and vLLM's JSON shapes), else its first text."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        data = json.loads(raw)
    except ValueError:
        return one_line(raw)
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict) and inner.get("message"):
            return one_line(inner["message"])
        if isinstance(inner, str):
            return one_line(inner)
    return one_line(raw)


def status_failure(code: int, detail: str) -> Failure:
    said = f": {detail}" if detail else ""
    if code >= 500 or code == 429:
        return Failure(f"answered HTTP {code}{said}", True, code)
    return Failure(f"refused the request (HTTP {code}){said}", False, code)


def timeout_failure(timeout: float) -> Failure:
    return Failure(f"no answer within {timeout:g} s (the timeout; --timeout sets it)", False)


def _refused(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ConnectionRefusedError) or "connection refused" in str(exc).lower():
            return True
        exc = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


def connection_failure(exc: BaseException) -> Failure:
    if _refused(exc):
        return Failure("connection refused (is the server running?)", True)
    reason = getattr(exc, "reason", None) or exc.__cause__ or exc
    return Failure(f"connection failed: {one_line(reason)}", True)


def request_json(url: str, payload: Any = None, timeout: float = DEFAULT_TIMEOUT,
                 headers: dict[str, str] | None = None) -> Any:
    """GET `url` (POST `payload` as JSON when given) and parse the JSON answer; `Failure`
    on any problem."""
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(
        url, data=data, method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        raise status_failure(exc.code, error_detail(exc.read())) from exc
    except TimeoutError as exc:  # socket.timeout is TimeoutError
        raise timeout_failure(timeout) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise timeout_failure(timeout) from exc
        raise connection_failure(exc) from exc
    except (http.client.HTTPException, OSError) as exc:
        raise connection_failure(exc) from exc
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        shown = one_line(body[:120].decode("utf-8", "replace"))
        raise Failure(f"sent a body that is not JSON: {shown!r}", False) from None


class Waiting:
    """Logs "waiting for SERVER" once a request has gone unanswered for `after` seconds (at
    most once per `every` seconds per server, however many requests are in flight)."""

    def __init__(self, server: str, timeout: float, after: float = NOTICE_AFTER,
                 every: float = 30.0):
        self.server, self.timeout = server, timeout
        self.after, self.every = min(after, timeout / 2), every
        self._lock, self._last = threading.Lock(), -1e9

    def _notice(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.every:
                return
            self._last = now
        log.warning(
            "waiting for %s: no answer after %.3g s (gives up at %g s; --timeout sets it)",
            self.server, self.after, self.timeout,
        )

    @contextmanager
    def request(self):
        timer = threading.Timer(self.after, self._notice)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def with_retries(call: Callable[[], T], server: str, tries: int = 3, backoff: float = 0.5,
                 waiting: Waiting | None = None) -> T:
    """`call()` until it succeeds; a retryable `Failure` is retried (with a warning) up to
    `tries` tries in all; the last failure becomes one `BackendError` line."""
    tries = max(1, tries)
    for attempt in range(1, tries + 1):
        try:
            if waiting is None:
                return call()
            with waiting.request():
                return call()
        except Failure as failure:
            if not failure.retry or attempt == tries:
                after = f"; gave up after {attempt} tries" if attempt > 1 else ""
                raise BackendError(f"server at {server}: {failure.text}{after}") from None
            delay = backoff * 2 ** (attempt - 1)
            log.warning(
                "server at %s: %s; retrying in %.1f s (try %d of %d)",
                server, failure.text, delay, attempt + 1, tries,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
