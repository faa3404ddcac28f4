"""What a person sees on the terminal while `rq-run` runs (`[health] log_format = "human"`).

A short start-up summary (vault, instruments, where the data comes from, the web address when
one is configured), one compact status line every `STATUS_EVERY_S`, and one line at once when
an actor gets into trouble or out of it. The JSON health stream still goes to
`logs/health.jsonl`; `rq-run --log-format json` puts it on stderr instead of this.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import IO

import trio

from rq_actors.config import Config
from rq_actors.io.health import HealthLog
from rq_actors.messages import HealthReport

STATUS_EVERY_S = 30.0
FIRST_STATUS_S = 10.0  # soon enough to show the capture works, late enough to have numbers
_TROUBLE = frozenset({"lagging", "recovering", "restarting", "failed"})
_ERROR_CHARS = 120


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rq-actors")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def web_address(config: Config) -> str | None:
    """`http://bind:port` of the dashboard, or None when `[web] enabled = false`."""
    if not config.web.enabled:
        return None
    return f"http://{config.web.bind}:{config.web.port}"


def startup_summary(config: Config, *, simulated: bool) -> list[str]:
    """The lines printed once, when the system starts (`config` has its final URLs)."""
    ex = config.exchange
    lines = [
        f"rq-run {package_version()}: {len(config.instruments)} instrument(s): "
        + ", ".join(config.instruments),
        f"  vault      {config.vault_root.resolve()}",
    ]
    if simulated:
        lines.append(f"  simulator  {ex.ws_public_url}  rest {ex.rest_url}  (loopback, no account)")
    else:
        lines.append(f"  exchange   {ex.ws_public_url}  ({ex.trades_channel}, {ex.book_channel})")
    web = web_address(config)
    if web is not None:
        lines.append(f"  web        {web}")
    lines.append(
        f"  health     {config.vault_root.resolve() / 'logs' / 'health.jsonl'}  "
        f"(table: rq status {config.source})"
    )
    lines.append(f"  status every {STATUS_EVERY_S:g} s; Ctrl-C stops (writers flush first)")
    return lines


def status_line(
    reports: Sequence[HealthReport], previous: dict[str, int], seconds: float, now_ms: int
) -> str:
    """`HH:MM:SS  INST 1,234 trades (+20/s) lag 5 ms  ...  14/14 actors running` (the rate
    from the second line on).

    `previous` holds each instrument's trade count at the last line; it is updated here so the
    next line can show the rate.
    """
    parts = [time.strftime("%H:%M:%S", time.gmtime(now_ms / 1000))]
    for rep in reports:
        if rep.actor != "trade_writer":
            continue
        written = rep.counters.get("trades_written", 0)
        before = previous.get(rep.inst_id)
        previous[rep.inst_id] = written
        rate = "" if before is None or seconds <= 0 else f" (+{(written - before) / seconds:.0f}/s)"
        lag = "" if rep.lag_ms is None else f" lag {rep.lag_ms:,} ms"
        parts.append(f"{rep.inst_id} {written:,} trades{rate}{lag}")
    running = sum(1 for rep in reports if rep.state == "running")
    parts.append(f"{running}/{len(reports)} actors running")
    parts.extend(
        f"{rep.inst_id} {rep.actor} {rep.state}" for rep in reports if rep.state in _TROUBLE
    )
    return "  ".join(parts)


def change_line(report: HealthReport) -> str:
    error = report.last_error or ""
    if len(error) > _ERROR_CHARS:
        error = error[: _ERROR_CHARS - 1] + "…"
    tail = f": {error}" if error and report.state in _TROUBLE else ""
    return f"{report.ts[11:19]} {report.inst_id} {report.actor} {report.state}{tail}"


class Console:
    """Human lines on `out`; a `HealthLog` listener for the lines that cannot wait."""

    def __init__(self, out: IO[str] = sys.stderr) -> None:
        self._out = out
        self._states: dict[tuple[str, str], str] = {}
        self._ran: set[tuple[str, str]] = set()  # actors seen running at least once
        self._troubled: set[tuple[str, str]] = set()  # actors whose trouble was printed

    def print_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self._out.write(line + "\n")
        self._out.flush()

    def on_report(self, report: HealthReport) -> None:
        """Print when an actor gets into trouble, and when it gets out of it.

        Start-up replay and the orderly stop pass through `recovering` without an error; only a
        recovery with an error after the actor ran, lagging, restarting or failing is news.
        """
        key = (report.inst_id, report.actor)
        before = self._states.get(key)
        self._states[key] = report.state
        if report.state == before:
            return
        if report.state in ("restarting", "failed") or (
            key in self._ran
            and (report.state == "lagging" or (report.state == "recovering" and report.last_error))
        ):
            self._troubled.add(key)
            self.print_lines([change_line(report)])
        elif report.state == "running" and key in self._troubled:
            self._troubled.discard(key)
            self.print_lines([change_line(report)])
        if report.state == "running":
            self._ran.add(key)

    async def run_status(self, health: HealthLog) -> None:
        """A status line after `FIRST_STATUS_S`, then every `STATUS_EVERY_S`, until cancelled."""
        previous: dict[str, int] = {}
        wait = FIRST_STATUS_S
        last = trio.current_time()
        while True:
            await trio.sleep(wait)
            wait = STATUS_EVERY_S
            now = trio.current_time()
            reports = [rep.snapshot() for rep in health.reporters]
            line = status_line(reports, previous, now - last, int(time.time() * 1000))
            last = now
            self.print_lines([line])
