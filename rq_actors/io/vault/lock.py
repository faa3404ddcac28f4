"""One writer per vault: an exclusive `flock` on `<vault>/rq.lock`, held for the writer's life.

`rq-run` holds it while it runs and `rq derive` while it writes, so neither can write next to
the other. The kernel drops a `flock` when its holder exits, even after `kill -9`, so a lock is
never stale; the file's text (`<pid> <command>`) only names the holder in messages and for
`rq status`, and is emptied on an orderly release.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import IO

import attrs

from rq_actors.errors import RqError

LOCK_NAME = "rq.lock"


class VaultLocked(RqError):
    """Another process holds the vault, or the lock file cannot be made. The text says which."""


@attrs.frozen
class Holder:
    pid: int
    command: str
    alive: bool  # the pid still exists (a pid from a lock file left by a killed process: False)


class VaultLock:
    """`with VaultLock(root, "rq-run"):` — raises `VaultLocked` naming the holder's pid."""

    def __init__(self, root: Path | str, command: str) -> None:
        self.path = Path(root) / LOCK_NAME
        self.command = command
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = self.path.open("a+")
        except OSError as exc:
            raise VaultLocked(f"cannot create the vault lock {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.close()
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise VaultLocked(f"cannot lock {self.path}: {exc.strerror}") from exc
            holder = read_holder(self.path.parent)
            who = f"{holder.command} (pid {holder.pid})" if holder else "another process"
            raise VaultLocked(
                f"the vault {self.path.parent} is in use by {who}; stop it first"
                f" (one writer per vault, lock {self.path})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()} {self.command}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        try:
            f.seek(0)
            f.truncate()  # an empty file: nobody holds the vault
        except OSError:
            pass  # a full disk cannot stop the unlock below
        f.close()  # closing drops the flock

    def __enter__(self) -> VaultLock:
        if self._file is None:  # `acquire()` first, then `with lock:`, is fine too
            self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # `async with` too, so it can share one statement with a nursery.
    async def __aenter__(self) -> VaultLock:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def read_holder(root: Path | str) -> Holder | None:
    """Who the lock file names, or None when it names nobody (never locked, or released)."""
    try:
        text = (Path(root) / LOCK_NAME).read_text()
    except OSError:
        return None
    pid_text, _, command = text.strip().partition(" ")
    if not pid_text.isdigit():
        return None
    pid = int(pid_text)
    return Holder(pid, command or "?", _pid_alive(pid))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
