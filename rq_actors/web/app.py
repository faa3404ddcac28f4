"""The dashboard's ASGI app (starlette): static page, history JSON, live push, `/metrics`.

Read-only (GET and the push socket only), no CORS headers, bounded queries (a bad or oversized
parameter is a 400, an instId that is not configured a 404 before it is used in any path). Vault
reads run in worker threads, at most `READ_THREADS` at a time, so a slow disk or a big request
never holds up the trio loop that runs capture in the same process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from rq_actors.config import Config
from rq_actors.core.timefmt import parse_iso_ms
from rq_actors.io.live_bus import LiveBus
from rq_actors.io.metrics.jobs import candle_timeframes
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.web import book_view, history
from rq_actors.web.auth import authorized, trusted_host
from rq_actors.web.health_view import HealthCollector, HealthSource, WebStats
from rq_actors.web.live import live_socket

STATIC = Path(__file__).parent / "static"
READ_THREADS = 2
_PROM_TEXT = "text/plain; version=0.0.4; charset=utf-8"  # the classic text format
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:",
}


@attrs.define
class WebContext:
    """What the app serves: the config's instruments and vault, an optional live bus (none in
    `rq web`), and where health comes from."""

    config: Config
    health: HealthSource
    bus: LiveBus | None = None
    stats: WebStats = attrs.field(factory=WebStats)

    @property
    def paths(self) -> VaultPaths:
        return VaultPaths(self.config.vault_root)


class BadQuery(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(doc: Any, status: int = 200) -> Response:
    return _json_bytes(orjson.dumps(doc), status)


def _json_bytes(body: bytes, status: int = 200) -> Response:
    headers = {"Cache-Control": "no-store", **_SECURITY_HEADERS}
    return Response(body, status, headers, media_type="application/json")


def _int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(400, f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise BadQuery(400, f"{name} must be in {lo}..{hi}")
    return value


def _time(req: Request, name: str) -> int | None:
    raw = req.query_params.get(name)
    if raw is None:
        return None
    try:
        return parse_iso_ms(raw)
    except ValueError:
        raise BadQuery(400, f"{name} must be a UTC time like 2025-12-14T21:34:00Z") from None


def _choice(req: Request, name: str, default: str, allowed: list[str]) -> str:
    value = req.query_params.get(name, default)
    if value not in allowed:
        raise BadQuery(400, f"{name} must be one of {allowed}")
    return value


Handler = Callable[[Request], Awaitable[Response]]


def create_app(ctx: WebContext) -> Starlette:
    config = ctx.config
    token = config.web.token_value()
    limiter = trio.CapacityLimiter(READ_THREADS)
    candle_tfs = candle_timeframes(config)
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_cpu_seconds…
    registry.register(HealthCollector(ctx.health, ctx.stats))

    def guarded(handler: Handler, per_instrument: bool = True) -> Handler:
        async def endpoint(req: Request) -> Response:
            if not trusted_host(req, token):
                return _json({"error": "unknown host name (use 127.0.0.1 or a token)"}, 403)
            if not authorized(req, token):
                return _json({"error": "unauthorized"}, 401)
            if per_instrument and req.path_params.get("inst") not in config.instruments:
                return _json({"error": "unknown instrument"}, 404)
            try:
                return await handler(req)
            except BadQuery as exc:
                return _json({"error": str(exc)}, exc.status)

        return endpoint

    async def read(fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(partial(fn, *args), limiter=limiter)

    async def answer(build: Callable[[], dict[str, Any]]) -> Response:
        """Build and encode the document in a worker thread: a 1000-row page is ~350 kB of
        JSON, which would otherwise be encoded on the loop that runs capture."""
        return _json_bytes(await read(lambda: orjson.dumps(build())))

    async def page_of(req: Request, kind: str, tf: str) -> Response:
        stream = history.stream_for(ctx.paths, req.path_params["inst"], kind, tf)
        limit = _int(req, "limit", 1000, 1, history.MAX_ROWS)
        start, end, inst = _time(req, "start"), _time(req, "end"), req.path_params["inst"]
        return await answer(
            lambda: {
                "instId": inst,
                "kind": kind,
                "tf": tf,
                **history.read_page(stream, start, end, limit).to_json(),
            }
        )

    async def candles(req: Request) -> Response:
        return await page_of(req, "candles", _choice(req, "tf", "1m", candle_tfs))

    async def cvd(req: Request) -> Response:
        return await page_of(req, "cvd", _choice(req, "tf", "1m", config.cvd.timeframes))

    async def vwap(req: Request) -> Response:
        return await page_of(req, "vwap", "1m")

    async def wick_events(req: Request) -> Response:
        return await page_of(req, "wick_events", "events")

    async def signal_events(req: Request) -> Response:
        return await page_of(req, "signals", "events")

    async def wicks(req: Request) -> Response:
        raw = req.query_params.get("tf", ",".join(config.wicks.timeframes))
        tfs = {t for t in raw.split(",") if t}
        if not tfs or not tfs <= set(config.wicks.timeframes):
            raise BadQuery(400, f"tf must be a comma list of {config.wicks.timeframes}")
        touched = _choice(req, "touched", "0", ["0", "1"]) == "1"
        limit = _int(req, "limit", 500, 1, history.MAX_WICKS)
        inst = req.path_params["inst"]
        return await answer(
            lambda: {"instId": inst, **history.wick_levels(ctx.paths, inst, tfs, touched, limit)}
        )

    async def setups(req: Request) -> Response:
        inst = req.path_params["inst"]
        return await answer(lambda: {"instId": inst, **history.setups(ctx.paths, inst)})

    async def book(req: Request) -> Response:
        inst = req.path_params["inst"]
        levels = _int(req, "levels", 25, 1, book_view.MAX_LEVELS)

        def build() -> dict[str, Any]:
            snap = book_view.latest_snapshot(ctx.paths, inst)
            return {
                "instId": inst,
                "book": None if snap is None else book_view.ladder(snap, levels),
            }

        return await answer(build)

    async def heatmap(req: Request) -> Response:
        inst = req.path_params["inst"]
        args = (
            _int(req, "minutes", 10, 1, book_view.MAX_MINUTES),
            _int(req, "columns", 60, 1, book_view.MAX_COLUMNS),
            _int(req, "rows", 40, 1, book_view.MAX_ROWS),
            _int(req, "span", 50, 1, book_view.MAX_LEVELS),
        )
        return await answer(lambda: {"instId": inst, **book_view.heatmap(ctx.paths, inst, *args)})

    async def health(_req: Request) -> Response:
        return await answer(lambda: {"live": ctx.bus is not None, "actors": ctx.health.lines()})

    async def meta(_req: Request) -> Response:
        return _json(
            {
                "instruments": config.instruments,
                "candle_timeframes": candle_tfs,
                "cvd_timeframes": config.cvd.timeframes,
                "wick_timeframes": config.wicks.timeframes,
                "live": ctx.bus is not None,
            }
        )

    async def metrics(_req: Request) -> Response:
        body = await read(generate_latest, registry)
        return Response(body, headers={"Cache-Control": "no-store"}, media_type=_PROM_TEXT)

    async def index(_req: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_SECURITY_HEADERS)

    async def live(ws: WebSocket) -> None:
        await live_socket(
            ws, instruments=config.instruments, bus=ctx.bus, token=token, stats=ctx.stats
        )

    per_inst: list[tuple[str, Handler]] = [
        ("candles", candles),
        ("cvd", cvd),
        ("vwap", vwap),
        ("wicks", wicks),
        ("wick_events", wick_events),
        ("setups", setups),
        ("signal_events", signal_events),
        ("book", book),
        ("heatmap", heatmap),
    ]
    routes: list[Any] = [
        Route("/", index),
        Route("/api/meta", guarded(meta, per_instrument=False)),
        Route("/api/health", guarded(health, per_instrument=False)),
        Route("/metrics", guarded(metrics, per_instrument=False)),
        *(Route(f"/api/{{inst}}/{name}", guarded(h)) for name, h in per_inst),
        WebSocketRoute("/api/live", live),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _read_only})


async def _not_found(_req: Request, _exc: Exception) -> Response:
    return _json({"error": "not found"}, 404)


async def _read_only(_req: Request, _exc: Exception) -> Response:
    return _json({"error": "read-only: GET only"}, 405)
