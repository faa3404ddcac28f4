"""`rq alerts test CONFIG`: one test message through every configured notifier, and what each
receiver answered. Exit 0 when all answered 2xx, 1 when one did not, 2 for a bad config or an
unset secret variable."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import trio

from rq_actors.config import ConfigError, load_config


def add_parser(sub: Any) -> None:
    p = sub.add_parser("alerts", help="alert notifiers (issue #12)")
    actions = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    test = actions.add_parser("test", help="send one test message through each notifier")
    test.add_argument("config", help="TOML config file with an [alerts] section")
    test.set_defaults(func=_cmd_test)


def _cmd_test(args: argparse.Namespace) -> int:
    from rq_actors.io.alerts.notifiers import build_notifiers

    try:
        config = load_config(args.config)
        notifiers = build_notifiers(config.alerts, config.source, os.environ)
    except ConfigError as exc:
        print(f"rq: bad config: {exc}", file=sys.stderr)
        return 2
    if not notifiers:
        print(f"rq: {args.config}: no [[alerts.notifiers]] configured", file=sys.stderr)
        return 2
    return trio.run(_send_all, notifiers)


async def _send_all(notifiers: list[Any]) -> int:
    from rq_actors.core.alerts.rules import probe_alert

    failed = 0
    for n in notifiers:
        alert = probe_alert(int(time.time() * 1000), n.name)
        try:
            with trio.move_on_after(60):
                result = await n.send(alert)
                answer = "no answer" if result.status is None else f"HTTP {result.status}"
                detail = f" {result.detail}" if result.detail else ""
                print(f"{n.name}: {answer}{detail}")
                failed += 0 if result.ok else 1
                continue
            print(f"{n.name}: no answer within 60 s")
            failed += 1
        finally:
            await n.aclose()
    return 1 if failed else 0
