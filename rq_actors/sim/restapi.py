"""The simulated OKX REST endpoints (okx-protocol.md §2.3, §4, §7.8), free of HTTP plumbing.

`RestApi.handle` maps (method, target, client) to an HTTP status and a JSON body in the OKX
envelope `{"code","msg","data"}`, or to `None`, meaning "drop the connection unanswered".
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from rq_actors.sim.events import BookMessage, Fill
from rq_actors.sim.history import FillHistory
from rq_actors.sim.instruments import InstrumentSpec, instrument_row

Reply = tuple[int, bytes]
REST_FAILURE_MODES = (None, "error", "rate_limit", "down")
_INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS"})
_WINDOW_S = 2.0
# requests per 2 s per client IP (instruments: per IP + instType)
_LIMITS = {
    "/api/v5/public/instruments": 20,
    "/api/v5/market/trades": 100,
    "/api/v5/market/history-trades": 20,
    "/api/v5/market/books": 40,
}


class _ParamError(Exception):
    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def _envelope(code: str, msg: str, data: list[Any], status: int = 200) -> Reply:
    return status, orjson.dumps({"code": code, "msg": msg, "data": data})


def _fill_row(fill: Fill) -> dict[str, str]:
    return {
        "instId": fill.inst_id,
        "side": fill.side,
        "sz": fill.sz,
        "px": fill.px,
        "source": "0",
        "tradeId": str(fill.trade_id),
        "ts": str(fill.ts_ms),
    }


class RestApi:
    def __init__(
        self,
        specs: dict[str, InstrumentSpec],
        history: FillHistory,
        book: Callable[[str, int], BookMessage],
        *,
        list_time_ms: int,
        rng: random.Random,
        error_prob: float,
        rate_limit: bool,
        clock: Callable[[], float],
    ) -> None:
        self.failure_mode: str | None = None
        self.requests = 0
        self._specs = specs
        self._history = history
        self._book = book
        self._list_time_ms = list_time_ms
        self._rng = rng
        self._error_prob = error_prob
        self._rate_limit = rate_limit
        self._clock = clock
        self._windows: dict[tuple[str, ...], deque[float]] = defaultdict(deque)

    def handle(self, method: str, target: str, client: str) -> Reply | None:
        self.requests += 1
        mode = self.failure_mode
        if mode == "down":
            return None
        if mode == "error" or (self._error_prob > 0 and self._rng.random() < self._error_prob):
            return _envelope(
                "50001", "Service temporarily unavailable. Please try again later.", [], 500
            )
        if mode == "rate_limit":
            return _envelope("50011", "Too Many Requests", [], 429)
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        route = {
            "/api/v5/public/instruments": self._instruments,
            "/api/v5/market/trades": self._trades,
            "/api/v5/market/history-trades": self._history_trades,
            "/api/v5/market/books": self._books,
        }.get(split.path)
        if route is None:
            return _envelope("404", "Not Found", [], 404)
        if method != "GET":
            return _envelope("405", "Method Not Allowed", [], 405)
        if self._rate_limit and self._over_limit(split.path, client, query.get("instType", "")):
            return _envelope("50011", "Too Many Requests", [], 429)
        try:
            return _envelope("0", "", route(query))
        except _ParamError as err:
            return _envelope(err.code, err.msg, [], err.status)

    def _over_limit(self, path: str, client: str, inst_type: str) -> bool:
        key = (path, client, inst_type) if path.endswith("instruments") else (path, client)
        window = self._windows[key]
        now = self._clock()
        while window and window[0] <= now - _WINDOW_S:
            window.popleft()
        if len(window) >= _LIMITS[path]:
            return True
        window.append(now)
        return False

    # ---- endpoints ------------------------------------------------------------------------

    def _instruments(self, q: dict[str, str]) -> list[Any]:
        inst_type = q.get("instType", "")
        if not inst_type:
            raise _ParamError("50014", "Parameter instType can not be empty.")
        if inst_type not in _INST_TYPES:
            raise _ParamError("51000", "Parameter instType error")
        inst_id = q.get("instId", "")
        family = q.get("instFamily", "")
        rows = []
        for spec in self._specs.values():
            row = instrument_row(spec, self._list_time_ms)
            if spec.inst_type != inst_type or (inst_id and spec.inst_id != inst_id):
                continue
            if family and row["instFamily"] != family:
                continue
            rows.append(row)
        if inst_id and not rows:
            raise _ParamError("51001", "Instrument ID doesn't exist.", 200)
        return rows

    def _inst(self, q: dict[str, str]) -> str:
        inst_id = q.get("instId", "")
        if not inst_id:
            raise _ParamError("50014", "Parameter instId can not be empty.")
        if inst_id not in self._specs:
            raise _ParamError("51001", "Instrument ID doesn't exist.", 200)
        return inst_id

    def _trades(self, q: dict[str, str]) -> list[Any]:
        inst_id = self._inst(q)
        limit = _int_param(q, "limit", 100, 1, 500)
        return [_fill_row(f) for f in self._history.recent(inst_id, limit)]

    def _history_trades(self, q: dict[str, str]) -> list[Any]:
        inst_id = self._inst(q)
        limit = _int_param(q, "limit", 100, 1, 100)
        kind = q.get("type", "1") or "1"
        after = _opt_int(q, "after")
        before = _opt_int(q, "before")
        if kind == "2":
            if after is None:
                return [_fill_row(f) for f in self._history.recent(inst_id, limit)]
            return [
                _fill_row(f)
                for f in self._history.page_by_time(inst_id, after_ts=after, limit=limit)
            ]
        if kind != "1":
            raise _ParamError("51000", "Parameter type error")
        page = self._history.page(inst_id, after=after, before=before, limit=limit)
        return [_fill_row(f) for f in page]

    def _books(self, q: dict[str, str]) -> list[Any]:
        inst_id = self._inst(q)
        depth = _int_param(q, "sz", 1, 1, 400)
        snap = self._book(inst_id, depth)
        return [{"asks": snap.asks, "bids": snap.bids, "ts": str(snap.ts_ms), "seqId": snap.seq_id}]


def _opt_int(q: dict[str, str], name: str) -> int | None:
    raw = q.get(name, "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _ParamError("51000", f"Parameter {name} error") from None


def _int_param(q: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    value = _opt_int(q, name)
    if value is None:
        return default
    if value < lo:
        raise _ParamError("51000", f"Parameter {name} error")
    return min(value, hi)
