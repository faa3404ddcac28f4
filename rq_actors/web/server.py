"""Serving the dashboard: hypercorn's trio worker inside the trio process, supervised.

In `rq-run` the web server is one more task of the process, beside the supervisor, with its own
health reporter (`web`): if it fails (the port is taken, a listener dies) it is restarted with
capped exponential backoff, and capture never notices. It stops when the process stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from starlette.applications import Starlette

from rq_actors.config import Config
from rq_actors.io.health import HealthLog
from rq_actors.io.live_bus import LiveBus
from rq_actors.supervisor import describe_error
from rq_actors.web.app import WebContext, create_app
from rq_actors.web.health_view import LiveHealth

_LOG = logging.getLogger("rq_actors.web")
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0


def hypercorn_config(bind: str, port: int) -> HypercornConfig:
    cfg = HypercornConfig()
    host = f"[{bind}]" if ":" in bind else bind
    cfg.bind = [f"{host}:{port}"]
    cfg.accesslog = None  # request lines would carry query strings; nothing secret, but no need
    cfg.errorlog = _LOG  # warnings and errors only (logging's last-resort handler → stderr)
    cfg.graceful_timeout = 1.0
    cfg.websocket_ping_interval = 20.0
    return cfg


async def serve_app(
    app: Starlette,
    bind: str,
    port: int,
    *,
    shutdown: trio.Event | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled or `shutdown` is set; `task_status` gets the bound URLs."""
    trigger = shutdown.wait if shutdown is not None else trio.sleep_forever
    cfg = hypercorn_config(bind, port)
    await serve(app, cfg, shutdown_trigger=trigger, task_status=task_status)  # type: ignore[arg-type]


async def run_web(
    config: Config,
    bus: LiveBus | None,
    health_log: HealthLog,
    *,
    on_started: Callable[[list[str]], None] | None = None,
) -> None:
    """The supervised web task of `rq-run`: serve, and on failure report, back off, restart."""
    reporter = health_log.reporter("web", "*")
    ctx = WebContext(config, LiveHealth(health_log), bus)
    backoff = BACKOFF_INITIAL_S
    while True:
        reporter.set_state("starting")
        try:
            async with trio.open_nursery() as nursery:
                app = create_app(ctx)
                urls = await nursery.start(serve_app, app, config.web.bind, config.web.port)
                reporter.set_state("running")
                backoff = BACKOFF_INITIAL_S
                if on_started is not None:
                    on_started(urls)
            return  # a clean return only follows a shutdown
        except Exception as exc:  # capture must outlive any web failure
            reporter.restarts += 1
            reporter.error(describe_error(exc))
            reporter.set_state("restarting")
            await trio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        except BaseExceptionGroup as group:
            # Only a group holding a cancellation or an interrupt gets here (`except Exception`
            # takes the rest): the process is stopping while a failure was in flight (a bind
            # retry, say). The stop wins; else Ctrl-C would exit as "the port is in use".
            _, stop = group.split(Exception)
            raise (stop or group) from None
