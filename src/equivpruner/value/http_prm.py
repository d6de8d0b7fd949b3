"""A process reward model behind an HTTP endpoint (wrap any PRM server with a few lines).

JSON contract, one POST per `score` call (Content-Type: application/json):

    request:  {"question": str, "prefix": [str, ...], "candidates": [str, ...]}
    response: {"scores": [float, ...]}            # one per candidate, each in [0, 1]
              optional "prompt_tokens": int         # recorded in the "value" phase if given

`prefix` holds the solution steps so far; the score of candidate i is the server's estimate
that the solution `prefix + [candidates[i]]` is on a correct path (e.g. a PRM's P(good) for
the last step). Connection errors, timeouts and 5xx answers are retried with exponential
backoff; a 4xx answer or a malformed response fails at once with a one-line BackendError.
"""

from __future__ import annotations

import http.client
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from ..llm.base import BackendError
from ..search.stats import SearchStats


class _Retryable(Exception):
    pass


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_scores(body: bytes, n: int, url: str) -> tuple[list[float], int]:
    """Validate a response body: `n` finite scores in [0, 1] (BackendError otherwise)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BackendError(
            f"PRM server {url} sent non-JSON: {_one_line(body[:200].decode('utf-8', 'replace'))!r}"
        ) from None
    scores = data.get("scores") if isinstance(data, dict) else None
    if not isinstance(scores, list) or len(scores) != n:
        raise BackendError(
            f'PRM server {url} must answer {{"scores": [...]}} with {n} numbers; '
            f"got {_one_line(json.dumps(data))[:120]}"
        )
    out = []
    for s in scores:
        ok = isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s)
        if not ok or not 0.0 <= s <= 1.0:
            raise BackendError(f"PRM server {url} gave score {s!r}; scores must lie in [0, 1]")
        out.append(float(s))
    tokens = data.get("prompt_tokens", 0)
    return out, tokens if isinstance(tokens, int) and tokens >= 0 else 0


class HttpPRM:
    """Scores candidates by POSTing to `url` (see the module docstring for the contract)."""

    name = "prm-http"

    def __init__(self, url: str, timeout: float = 30, retries: int = 3, backoff: float = 0.5):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"PRM URL must start with http:// or https://, got {url!r}")
        self.url, self.timeout = url, timeout
        self.retries, self.backoff = max(0, retries), backoff

    def _post_once(self, payload: bytes) -> bytes:
        req = urllib.request.Request(
            self.url, data=payload, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code} {exc.reason}"
            if exc.code >= 500:
                raise _Retryable(detail) from exc
            raise BackendError(f"PRM server {self.url} refused the request ({detail})") from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise _Retryable(_one_line(getattr(exc, "reason", exc))) from exc

    def post(self, payload: bytes) -> bytes:
        """POST with retries; BackendError after the last failed try."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return self._post_once(payload)
            except _Retryable as exc:
                last = str(exc)
        raise BackendError(
            f"PRM server {self.url} unreachable after {self.retries + 1} tries ({last}); "
            "is it running?"
        )

    def score(
        self,
        question: str,
        prefix: Sequence[str],
        candidates: Sequence[str],
        stats: SearchStats,
    ) -> list[float]:
        if not candidates:
            return []
        payload = json.dumps(
            {"question": question, "prefix": list(prefix), "candidates": list(candidates)}
        ).encode()
        with stats.timed("value"):
            body = self.post(payload)
        scores, tokens = parse_scores(body, len(candidates), self.url)
        phase = stats.phases["value"]
        phase.calls += len(candidates)
        phase.prompt_tokens += tokens
        return scores
