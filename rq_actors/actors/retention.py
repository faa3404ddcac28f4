"""The retention actor: one `run_retention_pass` for its instrument every `retention.interval_s`.

The file work runs in a worker thread so compressing a 60 MB hour never stalls the event loop.
The thread is abandoned on cancellation (shutdown must not wait for a gzip): every step of a
pass is crash-safe, so an interrupted pass is simply finished by the next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio

from rq_actors.config import Config
from rq_actors.io.health import HealthReporter
from rq_actors.io.retention import RetentionReport, run_retention_pass
from rq_actors.io.vault.paths import VaultPaths


def _wall_ms() -> int:
    return int(time.time() * 1000)


class RetentionActor:
    def __init__(
        self,
        inst_id: str,
        config: Config,
        paths: VaultPaths,
        health: HealthReporter,
        *,
        clock: Callable[[], int] = _wall_ms,
    ) -> None:
        self.inst_id = inst_id
        self._config = config
        self._paths = paths
        self._health = health
        self._clock = clock  # wall-clock ms: retention ages files against real time

    async def run(self) -> None:
        self._health.set_state("running")
        while True:
            report = await trio.to_thread.run_sync(
                run_retention_pass,
                self._paths,
                [self.inst_id],
                self._config.retention,
                self._clock(),
                abandon_on_cancel=True,
            )
            self._report(report)
            await trio.sleep(self._config.retention.interval_s)

    def _report(self, report: RetentionReport) -> None:
        health = self._health
        health.incr("retention_passes")
        health.incr("files_compressed", len(report.compressed))
        health.incr("files_deleted", len(report.deleted))
        health.incr("temps_removed", len(report.temps_removed))
        health.incr("bytes_compressed_in", report.bytes_in)
        health.incr("bytes_compressed_out", report.bytes_out)
        for error in report.errors:
            health.error(f"retention: {error}")
