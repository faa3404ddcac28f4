"""Append-only JSONL files and atomically replaced JSON documents (SPEC §4 file rules).

Everything here is synchronous and small: a batch of lines is one `write` plus one `flush`, which
keeps a single-threaded trio process from interleaving lines of two writers in one file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from rq_actors.core.recent_keys import RecentKeys

_TAIL_CHUNK = 64 * 1024
_REPAIRED_LIMIT = 8  # files an appender alternates between, e.g. two days across midnight


def repair_torn_tail(path: Path) -> int:
    """Cut a torn last line (bytes after the final `\\n`) off `path`; return bytes removed.

    A process killed mid-write can leave half a line. It is never left in the middle of a file:
    the data it held is re-captured or re-derived by whoever owns the file.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb+") as f:
        pos = size
        while pos > 0:
            start = max(0, pos - _TAIL_CHUNK)
            f.seek(start)
            chunk = f.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        if keep < size:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return size - keep


def last_line(path: Path) -> bytes | None:
    """The last complete line of `path` (without `\\n`), or None if it has none."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    with path.open("rb") as f:
        buf = b""
        pos = size
        while pos > 0:
            start = max(0, pos - _TAIL_CHUNK)
            f.seek(start)
            buf = f.read(pos - start) + buf
            pos = start
            complete_end = buf.rfind(b"\n")  # an unterminated tail is not a line
            if complete_end < 0:
                continue
            prev_nl = buf.rfind(b"\n", 0, complete_end)
            if prev_nl >= 0 or pos == 0:
                return buf[prev_nl + 1 : complete_end]
    return None


def iter_jsonl(path: Path) -> Iterator[Any]:
    """Parse every complete line of a JSONL file (an unterminated tail is ignored)."""
    with path.open("rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                yield orjson.loads(line)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: temp file in the same folder, fsync, rename, fsync folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, doc: Any) -> None:
    atomic_write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def read_json(path: Path) -> Any | None:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class VaultWriteError(OSError):
    """An append failed (typically ENOSPC, disk full). The file was cut back to the end of its
    last complete line, so it holds no torn line; none of the batch counts as written.

    Subclass of `OSError` with the original `errno`, so callers can tell a full disk
    (`errno.ENOSPC`) from other trouble; the message names the file and the problem."""

    def __init__(self, path: Path, cause: OSError, after: str) -> None:
        what = "disk full" if cause.errno == errno.ENOSPC else "write failed"
        super().__init__(
            cause.errno, f"{what}: cannot append to {path}: {cause.strerror or cause} ({after})"
        )
        self.path = path


class JsonlAppender:
    """Appends batches of lines to one current file at a time, repairing its torn tail on open.

    `append(path, lines)` switches files when the path changes (daily or hourly rotation by event
    time) and hands every batch to the OS, which is the durability point of SPEC §4.

    Files are unbuffered: a batch is one `os.write` (looped if the OS takes only part of it), so
    after an error no bytes linger in a user-space buffer to be flushed later, out of place. If a
    write fails (disk full), the file is truncated back to where the batch started and
    `VaultWriteError` is raised: all or nothing per batch and file, never a torn line.
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._file: BinaryIO | None = None
        # Repairing is idempotent, so only the last few files need remembering: rotation
        # brings a new path every hour, and a set of all of them grew for as long as we ran.
        self._repaired: RecentKeys[Path] = RecentKeys(_REPAIRED_LIMIT)
        self._cut_to: dict[Path, int] = {}  # failed cut-backs, retried at the next open

    @property
    def current_path(self) -> Path | None:
        return self._path

    def append(self, path: Path, lines: Iterable[bytes]) -> None:
        data = b"".join(line + b"\n" for line in lines)
        if not data:
            return
        try:
            f = self._open(path)  # a new day's folder or file needs space too
        except OSError as exc:
            self.close()
            raise VaultWriteError(path, exc, "nothing was written") from exc
        # Asked of the OS, not tracked: nothing may assume this appender is the file's only one.
        start = os.fstat(f.fileno()).st_size
        try:
            _write_all(f.fileno(), data)
        except OSError as exc:
            after = (
                "the partial write was cut back to the last complete line"
                if self._cut_back(path, f, start)
                else "the partial line will be cut before the next append"
            )
            self.close()
            raise VaultWriteError(path, exc, after) from exc

    def sync(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._path = None

    def _cut_back(self, path: Path, f: BinaryIO, start: int) -> bool:
        try:
            os.ftruncate(f.fileno(), start)  # shrinking needs no free space
        except OSError:
            self._cut_to[path] = start
            return False
        return True

    def _open(self, path: Path) -> BinaryIO:
        if self._path == path and self._file is not None:
            return self._file
        self.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path not in self._repaired:
            repair_torn_tail(path)
            self._repaired.add(path)
        f = path.open("ab", buffering=0)
        cut = self._cut_to.pop(path, None)
        if cut is not None and cut < os.fstat(f.fileno()).st_size:
            try:
                os.ftruncate(f.fileno(), cut)
            except OSError:
                f.close()
                self._cut_to[path] = cut
                raise
        self._file, self._path = f, path
        return f


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
