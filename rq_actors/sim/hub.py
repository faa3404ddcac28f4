"""The exchange side of the WebSocket: connections, subscriptions, acks and fan-out."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import trio

from rq_actors.sim.events import Fill, MarketEvent, TradeGroup
from rq_actors.sim.faults import WireFaults
from rq_actors.sim.frames import (
    encode_ack,
    encode_book,
    encode_error,
    encode_notice,
    encode_trades,
    encode_trades_all,
    malformed,
)
from rq_actors.sim.market import Market
from rq_actors.sim.wsconn import WsConn
from rq_actors.sim.wsrequests import Refusal, parse_request, route_arg

_ENDPOINT_ALIASES = {
    "public": "public",
    "/ws/v5/public": "public",
    "business": "business",
    "/ws/v5/business": "business",
}


def normalize_endpoint(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    try:
        return _ENDPOINT_ALIASES[endpoint]
    except KeyError:
        raise ValueError(f"unknown endpoint {endpoint!r} (use 'public' or 'business')") from None


class WsHub:
    def __init__(
        self,
        markets: dict[str, Market],
        wire: WireFaults,
        *,
        idle_close_s: float,
        pong_delay_s: float,
        pump: Callable[[], None],
        spawn: Callable[..., object],
    ) -> None:
        self.markets = markets
        self.wire = wire
        self.idle_close_s = idle_close_s
        self.pong_delay_s = pong_delay_s
        self.silent = False
        self.silent_pong = True
        self.conns: dict[WsConn, None] = {}
        self._pump = pump
        self._spawn = spawn
        self._subs: dict[tuple[str, str], dict[WsConn, None]] = {}

    # ---- connections --------------------------------------------------------------------

    def register(self, conn: WsConn) -> None:
        self.conns[conn] = None

    def unregister(self, conn: WsConn) -> None:
        self.conns.pop(conn, None)
        for key in conn.subs:
            self._subs.get(key, {}).pop(conn, None)
        conn.subs.clear()

    def handle_request(self, conn: WsConn, text: str) -> None:
        # Bring the market up to now first so a new snapshot is current and links to the
        # very next update.
        self._pump()
        request = parse_request(text)
        if isinstance(request, Refusal):
            conn.send(encode_error(request.code, request.msg, conn.conn_id, request.req_id))
            return
        for arg in request.args:
            routed = route_arg(arg, conn.endpoint, self.markets, request.req_id)
            if isinstance(routed, Refusal):
                conn.send(encode_error(routed.code, routed.msg, conn.conn_id, routed.req_id))
                continue
            echo = {"channel": routed[0], "instId": routed[1]}
            conn.send(encode_ack(request.op, echo, conn.conn_id, request.req_id))
            if request.op == "subscribe":
                self._subscribe(conn, routed)
            else:
                self._subs.get(routed, {}).pop(conn, None)
                conn.subs.pop(routed, None)

    def _subscribe(self, conn: WsConn, key: tuple[str, str]) -> None:
        conn.subs[key] = None
        conn.ever_subscribed = True
        self._subs.setdefault(key, {})[conn] = None
        channel, inst_id = key
        if channel == "books":
            # Every (re)subscribe starts from a fresh snapshot, the client's recovery path.
            conn.send(encode_book(self.markets[inst_id].snapshot(), channel="books"))

    # ---- publishing -----------------------------------------------------------------------

    def publish(self, event: MarketEvent) -> None:
        inst = event.inst_id
        if isinstance(event, TradeGroup):
            subs = self._subs.get(("trades", inst))
            if subs:
                self._fan(subs, self.wire.trades_frames(event))
            subs_all = self._subs.get(("trades-all", inst))
            if subs_all:
                for fill in event.fills:
                    self._fan(subs_all, self.wire.trades_all_frames(fill))
            if self.wire.unknown_inst_due():
                self.send_unknown_inst()
        else:
            subs = self._subs.get(("books", inst))
            frames = self.wire.book_frames(event)  # always consumes the one-shot faults
            if subs:
                self._fan(subs, frames)

    def _fan(self, conns: dict[WsConn, None], frames: list[str]) -> None:
        for conn in list(conns):
            for frame in frames:
                conn.send(frame)

    # ---- fault controls -------------------------------------------------------------------

    def _matching(self, endpoint: str | None) -> list[WsConn]:
        ep = normalize_endpoint(endpoint)
        return [c for c in self.conns if ep is None or c.endpoint == ep]

    def drop(self, endpoint: str | None = None) -> int:
        conns = self._matching(endpoint)
        for conn in conns:
            conn.abort()
        return len(conns)

    def notice(self, close_after_s: float) -> None:
        conns = list(self.conns)
        for conn in conns:
            conn.send(encode_notice(conn.conn_id))
        self._spawn(self._close_later, conns, close_after_s)

    async def _close_later(self, conns: Iterable[WsConn], delay: float) -> None:
        await trio.sleep(delay)
        for conn in conns:
            conn.abort()

    def send_malformed(self) -> None:
        for conn in list(self.conns):
            conn.send(malformed(self._sample_frame(conn)))

    def send_unknown_inst(self) -> None:
        for conn in list(self.conns):
            if conn.subs:
                conn.send(self._sample_frame(conn, inst_id=self._unknown_inst_id()))

    def _unknown_inst_id(self) -> str:
        for candidate in ("XYZ-USDT-SWAP", "XYZ-USDT", "QQQ-USDT-SWAP"):
            if candidate not in self.markets:
                return candidate
        return "UNKNOWN-USDT-SWAP"

    def _sample_frame(self, conn: WsConn, inst_id: str | None = None) -> str:
        """A realistic data frame for this connection's endpoint, built from a recent fill."""
        inst = next(iter(self.markets))
        market = self.markets[inst]
        target = inst_id or inst
        snap = market.snapshot(1)
        px = snap.bids[0][0] if snap.bids else "1"
        fill = Fill(target, 1, snap.ts_ms, px, "1", "buy")
        if conn.endpoint == "business":
            return encode_trades_all(fill)
        return encode_trades(TradeGroup(target, snap.ts_ms, px, "1", "buy", 1, (fill,)))
