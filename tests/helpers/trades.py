"""Shared helpers for the trade tests (no tests here): a fake OKX trade history behind
`httpx.MockTransport`, trade/row builders and a writer harness."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import httpx
import orjson
import trio

from rq_actors.actors.feed import LiveFeed
from rq_actors.actors.trade_writer import TradeWriterActor
from rq_actors.config import Config, ExchangeConfig
from rq_actors.core.meta import InstrumentMeta
from rq_actors.io.health import HealthReporter, null_reporter
from rq_actors.io.rest import OkxRest
from rq_actors.io.vault.files import iter_jsonl
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.quarantine import QuarantineLog
from rq_actors.io.vault.trade_files import day_files
from rq_actors.messages import ConnectionEvent, DurableTrades, Trade, TradeFrame, TradeInbox

INST = "BTC-USDT-SWAP"
BASE_TS = 1_765_748_096_123  # 2025-12-14T21:34:56.123Z
META = InstrumentMeta(INST, "SWAP", "0.01", "1", "linear", "0.1", "0.01")


def fill_row(trade_id: int, *, ts: int | None = None, px: str = "101250.5", sz: str = "1",
             side: str = "buy", inst: str = INST) -> dict[str, Any]:  # fmt: skip
    """A `trades-all` / REST row."""
    return {
        "instId": inst,
        "tradeId": str(trade_id),
        "px": px,
        "sz": sz,
        "side": side,
        "source": "0",
        "ts": str(BASE_TS + trade_id if ts is None else ts),
    }


def frame(
    rows: Iterable[dict[str, Any]], channel: str = "trades-all", epoch: int = 1
) -> TradeFrame:
    rows = tuple(rows)
    raw = orjson.dumps({"arg": {"channel": channel, "instId": INST}, "data": list(rows)}).decode()
    return TradeFrame(INST, channel, rows, raw, 0, epoch)


def up(epoch: int = 1, endpoint: str = "business") -> ConnectionEvent:
    return ConnectionEvent(INST, endpoint, epoch, "up")  # type: ignore[arg-type]


class FakeHistory:
    """OKX `history-trades` over a list of rows (newest first pages, `after`/`before`).

    `fail` = None | "error" (code 50001) | "rate_limit" | "down" (connection refused) | "bad"
    (code 51000, not retried). `calls` records each request's params.
    """

    def __init__(self, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.rows: list[dict[str, Any]] = sorted(rows, key=lambda r: int(r["tradeId"]))
        self.fail: str | None = None
        self.calls: list[dict[str, str]] = []
        self.max_limit = 100

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows = sorted([*self.rows, *rows], key=lambda r: int(r["tradeId"]))

    def handler(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.calls.append({"path": request.url.path, **params})
        if self.fail == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if self.fail == "error":
            return _envelope("50001", "Service temporarily unavailable", [], status=503)
        if self.fail == "rate_limit":
            return _envelope("50011", "Too Many Requests", [], status=429)
        if self.fail == "bad":
            return _envelope("51000", "Parameter error", [])
        if request.url.path != "/api/v5/market/history-trades":
            return _envelope("51000", f"unexpected path {request.url.path}", [])
        after = int(params["after"]) if "after" in params else None
        before = int(params["before"]) if "before" in params else None
        limit = min(int(params.get("limit", "100")), self.max_limit)
        rows = [
            r
            for r in self.rows
            if (after is None or int(r["tradeId"]) < after)
            and (before is None or int(r["tradeId"]) > before)
        ]
        page = rows[:limit] if (before is not None and after is None) else rows[-limit:]
        return _envelope("0", "", page[::-1])

    def rest(self, **kwargs: Any) -> OkxRest:
        kwargs.setdefault("backoff_initial_s", 0.01)
        kwargs.setdefault("transport", httpx.MockTransport(self.handler))
        return OkxRest("http://okx.test", **kwargs)


class SlowHistory(httpx.AsyncBaseTransport):
    """The fake history, but every answer takes `delay_s` of trio time."""

    def __init__(self, history: FakeHistory, delay_s: float) -> None:
        self.history = history
        self.delay_s = delay_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await trio.sleep(self.delay_s)
        response = self.history.handler(request)
        await response.aread()
        return response


def _envelope(code: str, msg: str, data: list[Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps({"code": code, "msg": msg, "data": data}))


def handler_from(fn: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(fn)


@attrs.define
class Harness:
    """A trade writer over a temporary vault, with its inbox, a feed and a fake history."""

    root: Path
    history: FakeHistory
    channel: str = "trades-all"
    reorder_window_s: float = 1.0
    backfill_timeout_s: float = 30.0
    health: HealthReporter = attrs.field(factory=lambda: null_reporter("trade_writer", INST))
    feed: LiveFeed = attrs.field(factory=lambda: LiveFeed("test", capacity=100_000))
    rest_kwargs: dict[str, Any] = attrs.field(factory=dict)
    rest_url: str | None = None  # a real REST server (the simulator) instead of `history`

    @property
    def paths(self) -> VaultPaths:
        return VaultPaths(self.root)

    def config(self) -> Config:
        return Config(instruments=[INST], exchange=ExchangeConfig(trades_channel=self.channel))

    async def run(self, messages: Iterable[TradeInbox | float]) -> TradeWriterActor:
        """Run a fresh writer over `messages` (a float = sleep that long first), then close the
        inbox and wait for the writer to return."""
        send, receive = trio.open_memory_channel[TradeInbox](10_000)
        quarantine = QuarantineLog(self.paths, INST)
        if self.rest_url is not None:
            rest = OkxRest(self.rest_url, **self.rest_kwargs)
        else:
            rest = self.history.rest(**self.rest_kwargs)
        async with rest:
            actor = TradeWriterActor(
                INST,
                self.config(),
                META,
                receive,
                [self.feed],
                self.paths,
                quarantine,
                self.health,
                rest,
                reorder_window_s=self.reorder_window_s,
                backfill_timeout_s=self.backfill_timeout_s,
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(actor.run)
                async with send:
                    for message in messages:
                        if isinstance(message, float):
                            await trio.sleep(message)
                        else:
                            await send.send(message)
        quarantine.close()
        return actor

    def vault_ids(self) -> list[int]:
        return [int(r["trade_id"]) for r in self.vault_records()]

    def vault_records(self) -> list[dict[str, Any]]:
        return [r for p in day_files(self.paths, INST) for r in iter_jsonl(p)]

    def quarantine_records(self) -> list[dict[str, Any]]:
        folder = self.root / "quarantine"
        return [r for p in sorted(folder.rglob("*.jsonl")) for r in iter_jsonl(p)]

    def fed_ids(self) -> list[int]:
        out: list[int] = []
        while True:
            try:
                batch: DurableTrades = self.feed.receive.receive_nowait()
            except trio.WouldBlock:
                return out
            out.extend(t.trade_id for t in batch.trades)


def trade(trade_id: int, **kw: Any) -> Trade:
    fields: dict[str, Any] = {"ts_ms": BASE_TS + trade_id, "side": "buy", "px": "1", "sz": "1"}
    fields.update(kw)
    return Trade(inst_id=INST, trade_id=trade_id, **fields)
