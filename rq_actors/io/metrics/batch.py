"""`rq derive`: bring derived outputs up to date from the vault, or rebuild them (SPEC §10).

The same jobs as the live actors, so the files are byte-identical to a live run. Do not run it
on a vault that a live `rq-run` is deriving into at the same time (both would append).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

from rq_actors.config import Config
from rq_actors.core.timefmt import iso_ms
from rq_actors.errors import RqError
from rq_actors.io.instruments import read_saved_meta
from rq_actors.io.metrics.jobs import METRICS, MetricJob, enabled_kinds, make_job
from rq_actors.io.metrics.replay import replay_vault
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade


class DeriveError(RqError):
    pass


@attrs.frozen
class DeriveResult:
    inst_id: str
    trades_read: int
    records_written: int
    seconds: float


def output_dirs(paths: VaultPaths, kind: str, inst_id: str) -> list[Path]:
    """Everything a `--rebuild` of `kind` removes (outputs and state)."""
    return METRICS[kind].outputs(paths, inst_id)


def derive_instrument(
    config: Config,
    inst_id: str,
    kinds: Sequence[str] | None = None,  # default: every enabled kind
    *,
    rebuild: bool = False,
    progress: bool = False,
) -> DeriveResult:
    paths = VaultPaths(config.vault_root)
    meta = read_saved_meta(paths, inst_id)
    if meta is None:
        raise DeriveError(
            f"{inst_id}: no instrument metadata at {paths.instrument_meta(inst_id)}; "
            "run rq-run once to fetch it"
        )
    if kinds is None:
        kinds = enabled_kinds(config)
    if rebuild:
        for kind in kinds:
            for target in output_dirs(paths, kind, inst_id):
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
    jobs: list[MetricJob] = [make_job(kind, config, meta, paths) for kind in kinds]
    t0 = time.perf_counter()
    report = _Progress(inst_id) if progress else None
    try:
        n = replay_vault(paths, inst_id, jobs, progress=report)
        written = sum(s.written for job in jobs for s in job.sinks.values())
        for job in jobs:
            job.save_state()
    finally:
        for job in jobs:
            job.close()
        if report is not None:
            report.done()
    return DeriveResult(inst_id, n, written, time.perf_counter() - t0)


class _Progress:
    """A one-line progress display on a TTY (stderr)."""

    def __init__(self, inst_id: str) -> None:
        self._inst_id = inst_id
        self._n = 0
        self._t0 = time.perf_counter()

    def __call__(self, n: int, last: Trade) -> None:
        self._n += n
        rate = self._n / max(time.perf_counter() - self._t0, 1e-9)
        sys.stderr.write(
            f"\r{self._inst_id}: {self._n:,} trades, at {iso_ms(last.ts_ms)}, {rate:,.0f}/s  "
        )
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
