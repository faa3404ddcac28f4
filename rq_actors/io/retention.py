"""Retention of the hourly book files (SPEC §6): compress after N hours, delete after N days.

Applies to `raw/okx/l2_perps/{instId}/` and `raw/okx/l2_updates/{instId}/`, whose files are
`{YYYY-MM-DD}/{HH}.jsonl` (→ `{HH}.jsonl.gz`). A file's age runs from the END of its hour (event
time, read from its path) to `now_ms`, which the caller passes in (wall clock live, fake in tests).

`plan_stream` is pure: a listing and `now_ms` in, actions out. `execute` performs one action so
that a crash at any point leaves a consistent folder, repaired by the next pass:
- compress: gzip to `.{HH}.jsonl.gz.tmp`, fsync, decompress and compare with the original,
  rename to `{HH}.jsonl.gz`, then remove the original. A crash leaves a temp (removed next pass),
  or the verified `.gz` beside its original (compared again, then the original is removed).
  A `.gz` under its final name is therefore always complete and verified.
- delete: `.gz` files older than `delete_after_days`, and plain files that old too (retention
  did not run in time; compressing data that is due for deletion is pointless).
- never touched: the current hour (of `now_ms`), any later hour, and the newest hour present in
  that folder (the one being written, even when event time lags the wall clock).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import attrs

from rq_actors.config import RetentionConfig
from rq_actors.core.timefmt import MS_PER_DAY, MS_PER_HOUR
from rq_actors.io.vault.files import repair_torn_tail
from rq_actors.io.vault.paths import VaultPaths

FileKind = Literal["jsonl", "gz", "tmp"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAME = re.compile(r"(?P<hh>\d{2})\.jsonl(?P<gz>\.gz)?|\.(?P<tmp>\d{2})\.jsonl\.gz\.tmp")
_CHUNK = 1 << 20


@attrs.frozen
class HourFile:
    path: Path
    hour_ms: int  # start of the hour the file holds (from its path)
    kind: FileKind


@attrs.frozen
class RemoveTemp:
    path: Path


@attrs.frozen
class Compress:
    src: Path
    dst: Path


@attrs.frozen
class Delete:
    path: Path


Action = RemoveTemp | Compress | Delete


@attrs.define
class RetentionReport:
    compressed: list[Path] = attrs.Factory(list)
    deleted: list[Path] = attrs.Factory(list)
    temps_removed: list[Path] = attrs.Factory(list)
    errors: list[str] = attrs.Factory(list)
    bytes_in: int = 0  # size of the originals compressed
    bytes_out: int = 0  # size of the .gz files written

    def merge(self, other: RetentionReport) -> None:
        self.compressed += other.compressed
        self.deleted += other.deleted
        self.temps_removed += other.temps_removed
        self.errors += other.errors
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out


class VerifyError(OSError):
    """The compressed copy does not decompress to the original (nothing was replaced)."""


# -- listing and planning (pure apart from the directory listing) --------------------------


def temp_name(gz_name: str) -> str:
    return f".{gz_name}.tmp"


def parse_hour_file(date_dir: str, name: str) -> tuple[int, FileKind] | None:
    """(hour start ms, kind) for `{date}/{HH}.jsonl[.gz]` or our temp; None for anything else."""
    m = _NAME.fullmatch(name)
    if m is None or _DATE.fullmatch(date_dir) is None:
        return None
    hour = int(m["hh"] or m["tmp"])
    if hour > 23:
        return None
    try:
        day = datetime.strptime(date_dir, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    hour_ms = int(day.timestamp()) * 1000 + hour * MS_PER_HOUR
    kind: FileKind = "tmp" if m["tmp"] else "gz" if m["gz"] else "jsonl"
    return hour_ms, kind


def list_stream(stream_dir: Path) -> list[HourFile]:
    """Every hour file (and leftover temp) under `stream_dir/{date}/`; other files are ignored."""
    out: list[HourFile] = []
    try:
        days = list(os.scandir(stream_dir))
    except FileNotFoundError:
        return out
    for day in days:
        if not day.is_dir(follow_symlinks=False):
            continue
        for entry in os.scandir(day.path):
            parsed = parse_hour_file(day.name, entry.name)
            if parsed is not None and entry.is_file(follow_symlinks=False):
                out.append(HourFile(Path(entry.path), parsed[0], parsed[1]))
    return sorted(out, key=lambda f: (f.hour_ms, f.kind, str(f.path)))


def plan_stream(files: Sequence[HourFile], now_ms: int, config: RetentionConfig) -> list[Action]:
    """What to do with one folder's files at `now_ms`. Temps first, then oldest hour first."""
    data_hours = [f.hour_ms for f in files if f.kind != "tmp"]
    newest = max(data_hours) if data_hours else None
    current = now_ms - now_ms % MS_PER_HOUR
    compress_ms = config.compress_after_hours * MS_PER_HOUR
    delete_ms = config.delete_after_days * MS_PER_DAY

    actions: list[Action] = [RemoveTemp(f.path) for f in files if f.kind == "tmp"]
    for f in files:
        if f.kind == "tmp" or f.hour_ms >= current or f.hour_ms == newest:
            continue
        age_ms = now_ms - (f.hour_ms + MS_PER_HOUR)
        if age_ms >= delete_ms:
            actions.append(Delete(f.path))
        elif f.kind == "jsonl" and age_ms >= compress_ms:
            actions.append(Compress(f.path, f.path.with_name(f.path.name + ".gz")))
    return actions


# -- execution ------------------------------------------------------------------------------


def execute(action: Action, report: RetentionReport) -> None:
    """Perform one action; OSError (including `VerifyError`) propagates to the caller."""
    if isinstance(action, RemoveTemp):
        _unlink_missing_ok(action.path)
        report.temps_removed.append(action.path)
    elif isinstance(action, Delete):
        _unlink_missing_ok(action.path)
        _fsync_dir(action.path.parent)
        report.deleted.append(action.path)
    else:
        bytes_in, bytes_out = _compress(action.src, action.dst)
        report.compressed.append(action.src)
        report.bytes_in += bytes_in
        report.bytes_out += bytes_out


def apply_actions(actions: Iterable[Action]) -> RetentionReport:
    """Execute every action; one failure is reported and the others still run."""
    report = RetentionReport()
    touched: set[Path] = set()
    for action in actions:
        try:
            execute(action, report)
        except OSError as exc:
            report.errors.append(f"{type(action).__name__} {_target(action)}: {exc}")
        if isinstance(action, Delete):
            touched.add(action.path.parent)
    for folder in touched:  # a day folder emptied by deletion goes too
        try:
            folder.rmdir()
        except OSError:
            pass
    return report


def run_retention_pass(
    paths: VaultPaths, inst_ids: list[str], config: RetentionConfig, now_ms: int
) -> RetentionReport:
    """One pass over the L2 snapshot and raw-update folders of `inst_ids` (`rq retention`)."""
    report = RetentionReport()
    for inst_id in inst_ids:
        for stream_dir in (paths.l2_dir(inst_id), paths.l2_updates_dir(inst_id)):
            actions = plan_stream(list_stream(stream_dir), now_ms, config)
            report.merge(apply_actions(actions))
    return report


def _compress(src: Path, dst: Path) -> tuple[int, int]:
    # The hour is closed (never the one being written), so a torn last line left by a crash is
    # cut off here rather than preserved inside the archive.
    repair_torn_tail(src)
    if dst.exists():
        if same_content(dst, src):  # a crash after the rename: finish the job
            size_out = dst.stat().st_size
            size_in = src.stat().st_size
            os.unlink(src)
            _fsync_dir(src.parent)
            return size_in, size_out
        # Otherwise the original grew after it was archived: archive it again, atomically.
    tmp = dst.with_name(temp_name(dst.name))
    with src.open("rb") as fin, tmp.open("wb") as raw:
        with gzip.GzipFile(
            filename=src.name, mode="wb", fileobj=raw, compresslevel=6, mtime=0
        ) as gz:
            shutil.copyfileobj(fin, gz, _CHUNK)
        raw.flush()
        os.fsync(raw.fileno())
    if not same_content(tmp, src):
        _unlink_missing_ok(tmp)
        raise VerifyError(f"{tmp} does not decompress to {src}")
    size_in, size_out = src.stat().st_size, tmp.stat().st_size
    os.replace(tmp, dst)
    _fsync_dir(dst.parent)
    os.unlink(src)
    _fsync_dir(src.parent)
    return size_in, size_out


def same_content(gz_path: Path, plain_path: Path) -> bool:
    """True if `gz_path` decompresses to exactly the bytes of `plain_path` (streamed)."""
    try:
        with gzip.open(gz_path, "rb") as zin, plain_path.open("rb") as pin:
            while True:
                a = zin.read(_CHUNK)
                b = pin.read(_CHUNK)
                if a != b:
                    return False
                if not a:
                    return True
    except (OSError, EOFError, zlib.error):
        return False


def _unlink_missing_ok(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _target(action: Action) -> Path:
    return action.src if isinstance(action, Compress) else action.path
