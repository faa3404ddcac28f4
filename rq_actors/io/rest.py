"""A small async client for the public OKX v5 REST endpoints the capture needs (okx-protocol §4).

- Every answer is the `{code, msg, data}` envelope; a non-`"0"` code raises `RestError`.
- `50011` or HTTP 429 raise `RateLimited`; `50001`/`50013`/`50026`, HTTP 5xx, network errors and
  unreadable bodies raise `TransientRestError`. Both are retried with capped exponential backoff
  before they reach the caller; everything else (`51001` unknown instrument, `51000` bad
  parameter, …) is raised at once, because asking again cannot help.
- Each endpoint has its own client-side rate limiter (a sliding window on trio's clock), so a
  long backfill paces itself instead of tripping the exchange's per-IP limit.

The transport is swappable (`httpx.MockTransport` in unit tests); time is trio's, so
`trio.testing.MockClock` drives backoff and pacing in tests.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import httpx
import orjson
import trio

from rq_actors.errors import RqError

TRANSIENT_CODES = frozenset({"50001", "50013", "50026"})
RATE_LIMIT_CODE = "50011"

INSTRUMENTS_PATH = "/api/v5/public/instruments"
HISTORY_TRADES_PATH = "/api/v5/market/history-trades"
RECENT_TRADES_PATH = "/api/v5/market/trades"

# Requests per window, per endpoint (okx-protocol §2.3, §4.1).
_LIMITS: dict[str, tuple[int, float]] = {
    INSTRUMENTS_PATH: (20, 2.0),
    HISTORY_TRADES_PATH: (20, 2.0),
    RECENT_TRADES_PATH: (100, 2.0),
}


class RestError(RqError):
    """The exchange (or the way to it) refused a request. `code` is OKX's code when it sent one,
    else a short tag (`"http-503"`, `"network"`, `"bad-body"`)."""

    def __init__(self, path: str, code: str, msg: str, *, http_status: int | None = None) -> None:
        self.path = path
        self.code = code
        self.msg = msg
        self.http_status = http_status
        status = f" (HTTP {http_status})" if http_status is not None else ""
        super().__init__(f"{path}: code {code}{status}: {msg}")


class TransientRestError(RestError):
    """Worth retrying later: exchange busy, server error, network trouble."""


class RateLimited(TransientRestError):
    """The exchange said we asked too often (`50011` or HTTP 429)."""


class RateLimiter:
    """At most `max_requests` starts in any `window_s` seconds of trio time."""

    def __init__(self, max_requests: int, window_s: float) -> None:
        self._max = max_requests
        self._window = window_s
        self._starts: deque[float] = deque()
        self._lock = trio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # FIFO: one waiter at a time computes its slot
            now = trio.current_time()
            while self._starts and self._starts[0] <= now - self._window:
                self._starts.popleft()
            if len(self._starts) >= self._max:
                await trio.sleep_until(self._starts[0] + self._window)
                self._starts.popleft()
            self._starts.append(trio.current_time())


class OkxRest:
    """Public OKX REST client. Use as `async with OkxRest(url) as rest:` or call `aclose()`."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.25,
        backoff_max_s: float = 4.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=timeout_s,
            headers=headers,
        )
        self._max_attempts = max(1, max_attempts)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._limiters = {path: RateLimiter(n, w) for path, (n, w) in _LIMITS.items()}
        self.requests = 0  # every HTTP request sent, retries included (tests, health)

    async def __aenter__(self) -> OkxRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def instruments(self, inst_type: str, inst_id: str | None = None) -> list[Any]:
        params = {"instType": inst_type}
        if inst_id is not None:
            params["instId"] = inst_id
        return await self.get(INSTRUMENTS_PATH, params)

    async def history_trades(
        self,
        inst_id: str,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[Any]:
        """Trade rows by tradeId (`type=1`), newest first: `after` = older than that id,
        `before` = newer than that id. At most 100 rows."""
        params = {"instId": inst_id, "type": "1", "limit": str(min(max(limit, 1), 100))}
        if after is not None:
            params["after"] = str(after)
        if before is not None:
            params["before"] = str(before)
        return await self.get(HISTORY_TRADES_PATH, params)

    async def recent_trades(self, inst_id: str, limit: int = 100) -> list[Any]:
        """The most recent trades (at most 500), newest first."""
        params = {"instId": inst_id, "limit": str(min(max(limit, 1), 500))}
        return await self.get(RECENT_TRADES_PATH, params)

    async def get(self, path: str, params: dict[str, str]) -> list[Any]:
        """GET `path`, retrying transient failures; return the envelope's `data` list."""
        delay = self._backoff_initial_s
        for attempt in range(1, self._max_attempts + 1):
            try:
                return await self._get_once(path, params)
            except TransientRestError:
                if attempt == self._max_attempts:
                    raise
            await trio.sleep(delay)
            delay = min(delay * 2, self._backoff_max_s)
        raise AssertionError("unreachable")

    async def _get_once(self, path: str, params: dict[str, str]) -> list[Any]:
        limiter = self._limiters.get(path)
        if limiter is not None:
            await limiter.acquire()
        self.requests += 1
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as exc:  # connect/read errors and timeouts alike
            raise TransientRestError(path, "network", f"{type(exc).__name__}: {exc}") from exc
        return parse_envelope(path, response.status_code, response.content)


def parse_envelope(path: str, status: int, body: bytes) -> list[Any]:
    """Turn one HTTP answer into the `data` list or the matching exception (pure)."""
    doc: Any = None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    code = _field(doc, "code")
    msg = _field(doc, "msg")
    if status == 429 or code == RATE_LIMIT_CODE:
        raise RateLimited(path, code or "http-429", msg or "rate limited", http_status=status)
    if code in TRANSIENT_CODES or status >= 500:
        detail = msg or _snippet(body)
        raise TransientRestError(path, code or f"http-{status}", detail, http_status=status)
    if not code:  # not an envelope (no usable `code`): the body says more than we can
        if status == 200:  # a garbled or truncated answer: asking again may well work
            raise TransientRestError(path, "bad-body", _snippet(body), http_status=status)
        raise RestError(path, f"http-{status}", _snippet(body), http_status=status)
    if code != "0":
        raise RestError(path, code, msg, http_status=status)
    data = doc.get("data")
    if not isinstance(data, list):
        detail = f"`data` is not a list: {_snippet(body)}"
        raise RestError(path, "bad-body", detail, http_status=status)
    return data


def _field(doc: Any, key: str, limit: int = 200) -> str:
    """A `code`/`msg` as text: OKX sends strings; numbers are tolerated, anything else is not
    a usable value (`""`). Cut to `limit` characters: it ends up in errors and health lines."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value)[:limit]


def _snippet(body: bytes, limit: int = 200) -> str:
    return body[:limit].decode("utf-8", "replace")
