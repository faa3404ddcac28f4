"""The OKX REST client: envelope, error classes, retries with backoff, client-side pacing."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import trio

from rq_actors.io.rest import (
    OkxRest,
    RateLimited,
    RateLimiter,
    RestError,
    TransientRestError,
    parse_envelope,
)


def _response(code: str, data: Any = (), msg: str = "", status: int = 200) -> httpx.Response:
    body = orjson.dumps({"code": code, "msg": msg, "data": list(data)})
    return httpx.Response(status, content=body)


class Script:
    """Answers requests from a list (the last answer repeats) and records them with times."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(trio.current_time())
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **kw: Any) -> OkxRest:
        return OkxRest("https://okx.test/", transport=httpx.MockTransport(self), **kw)


async def test_instruments_request_and_data() -> None:
    script = Script(_response("0", [{"instId": "BTC-USDT-SWAP"}]))
    async with script.client() as rest:
        data = await rest.instruments("SWAP", "BTC-USDT-SWAP")
    assert data == [{"instId": "BTC-USDT-SWAP"}]
    url = script.requests[0].url
    assert url.path == "/api/v5/public/instruments"
    assert dict(url.params) == {"instType": "SWAP", "instId": "BTC-USDT-SWAP"}


async def test_history_trades_params() -> None:
    script = Script(_response("0", []))
    async with script.client() as rest:
        await rest.history_trades("BTC-USDT-SWAP", after=105, limit=500)
        await rest.history_trades("BTC-USDT-SWAP", before=7, limit=0)
        await rest.recent_trades("BTC-USDT-SWAP", 1000)
    first, second, third = (dict(r.url.params) for r in script.requests)
    assert script.requests[0].url.path == "/api/v5/market/history-trades"
    assert first == {"instId": "BTC-USDT-SWAP", "type": "1", "limit": "100", "after": "105"}
    assert second == {"instId": "BTC-USDT-SWAP", "type": "1", "limit": "1", "before": "7"}
    assert script.requests[2].url.path == "/api/v5/market/trades"
    assert third == {"instId": "BTC-USDT-SWAP", "limit": "500"}


async def test_error_code_raises_at_once_with_code_and_msg(autojump_clock: Any) -> None:
    script = Script(_response("51001", msg="Instrument ID doesn't exist"))
    async with script.client() as rest:
        with pytest.raises(RestError) as info:
            await rest.instruments("SWAP", "NOPE-USDT-SWAP")
    assert not isinstance(info.value, TransientRestError)
    assert (info.value.code, info.value.msg) == ("51001", "Instrument ID doesn't exist")
    assert "51001" in str(info.value) and "/api/v5/public/instruments" in str(info.value)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        _response("50001", msg="busy"),
        _response("50013", msg="busy"),
        _response("50026", msg="busy"),
        httpx.Response(502, content=b"<html>bad gateway</html>"),
        httpx.Response(200, content=b'{"code":"0","da'),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
async def test_transient_failures_are_retried(autojump_clock: Any, answer: Any) -> None:
    script = Script(answer, _response("0", [{"ok": 1}]))
    async with script.client() as rest:
        assert await rest.history_trades("BTC-USDT-SWAP") == [{"ok": 1}]
    assert len(script.requests) == 2


async def test_backoff_grows_then_gives_up(autojump_clock: Any) -> None:
    script = Script(_response("50001", msg="busy", status=503))
    async with script.client(max_attempts=4, backoff_initial_s=0.5, backoff_max_s=1.5) as rest:
        with pytest.raises(TransientRestError) as info:
            await rest.history_trades("BTC-USDT-SWAP")
    assert info.value.code == "50001" and info.value.http_status == 503
    gaps = [round(b - a, 6) for a, b in zip(script.times, script.times[1:], strict=False)]
    assert gaps == [0.5, 1.0, 1.5]


@pytest.mark.parametrize(
    "answer", [_response("50011", msg="Too Many Requests"), httpx.Response(429, content=b"")]
)
async def test_rate_limited(autojump_clock: Any, answer: httpx.Response) -> None:
    script = Script(answer)
    async with script.client(max_attempts=2) as rest:
        with pytest.raises(RateLimited):
            await rest.history_trades("BTC-USDT-SWAP")
    assert len(script.requests) == 2


def test_parse_envelope_shapes() -> None:
    assert parse_envelope("/p", 200, b'{"code":"0","msg":"","data":[1]}') == [1]
    with pytest.raises(RestError, match="data"):
        parse_envelope("/p", 200, b'{"code":"0","msg":"","data":{}}')
    with pytest.raises(RestError) as info:
        parse_envelope("/p", 404, b"not found")
    assert not isinstance(info.value, TransientRestError) and info.value.code == "http-404"


async def test_client_paces_history_requests(autojump_clock: Any) -> None:
    script = Script(_response("0", []))
    async with script.client() as rest:
        for _ in range(45):
            await rest.history_trades("BTC-USDT-SWAP")
    start = script.times[0]
    # 20 per 2 s: requests 21..40 wait for the first window, 41.. for the second.
    assert script.times[19] - start < 0.001
    assert script.times[20] - start == pytest.approx(2.0)
    assert script.times[40] - start == pytest.approx(4.0)
    for i in range(20, 45):
        assert script.times[i] - script.times[i - 20] >= 2.0 - 1e-9


async def test_rate_limiter_is_per_window(autojump_clock: Any) -> None:
    limiter = RateLimiter(3, 1.0)
    times = []
    for _ in range(7):
        await limiter.acquire()
        times.append(trio.current_time())
    rel = [round(t - times[0], 6) for t in times]
    assert rel == [0, 0, 0, 1.0, 1.0, 1.0, 2.0]
