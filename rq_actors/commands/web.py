"""`rq web CONFIG`: the read-only dashboard over an existing vault, without capturing.

Same app as inside `rq-run`, but no live bus: history and health come from the vault files (the
health table follows whatever `rq-run` writes to that vault's health log), and nothing is pushed;
the page refreshes its history every 30 s instead. `[web] bind/port/token` apply; `--bind` and
`--port` override them (the loopback/token rule is checked again for the override).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import attrs
import trio

from rq_actors.config import Config, ConfigError, WebConfig, load_config

EXIT_BAD_CONFIG = 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("web", help="serve the read-only dashboard over a vault (no capture)")
    p.add_argument("config")
    p.add_argument("--bind", help="address to listen on (default: [web] bind)")
    p.add_argument("--port", type=int, help="port (default: [web] port; 0 = any free one)")
    p.set_defaults(func=_cmd_web)


def _web_config(config: Config, bind: str | None, port: int | None) -> Config:
    web = config.web
    try:
        web = WebConfig(
            enabled=True,
            bind=web.bind if bind is None else bind,
            port=web.port if port is None else port,
            token=web.token,
        )
    except ValueError as exc:  # the same rule as the config file's [web] block
        key = getattr(exc, "name", "web")
        raise ConfigError(config.source, f"web.{key} (command line)", str(exc)) from None
    return attrs.evolve(config, web=web)


def _cmd_web(args: argparse.Namespace) -> int:
    try:
        config = _web_config(load_config(args.config), args.bind, args.port)
    except ConfigError as exc:
        print(f"rq web: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        trio.run(serve_vault, config)
    except Exception as exc:
        cause = _os_error(exc)
        if cause is None:
            raise
        where = f"{config.web.bind}:{config.web.port}"
        print(f"rq web: cannot listen on {where}: {cause.strerror or cause}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    return 0


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError (address in use, not an address of this host) inside trio's groups."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            found = _os_error(sub)
            if found is not None:
                return found
    return None


async def serve_vault(
    config: Config, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until SIGINT/SIGTERM; `task_status` gets the bound URLs."""
    from rq_actors.io.vault.paths import VaultPaths
    from rq_actors.web.app import WebContext, create_app
    from rq_actors.web.health_view import FileHealth
    from rq_actors.web.server import serve_app

    ctx = WebContext(config, FileHealth(VaultPaths(config.vault_root).health_log()))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_signal, stop)
        urls = await nursery.start(
            lambda task_status: serve_app(
                create_app(ctx),
                config.web.bind,
                config.web.port,
                shutdown=stop,
                task_status=task_status,
            )
        )
        print(f"rq web: dashboard of {config.vault_root} at {urls[0]}/ (Ctrl-C stops)", flush=True)
        task_status.started(urls)
        await stop.wait()
        nursery.cancel_scope.cancel()


async def _stop_on_signal(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stop.set()
            return
