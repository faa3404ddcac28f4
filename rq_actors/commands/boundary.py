"""The CLI boundary: a user-caused failure becomes one line and exit code 2, Ctrl-C exits
quietly, and only real bugs keep their traceback.

trio wraps whatever escapes a nursery in exception groups, so the leaves are what is judged: a
group whose leaves are all interrupts, cancellations or user errors is the user's doing.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path

import trio

from rq_actors.config import ConfigError
from rq_actors.errors import RqError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # the shell's convention for "stopped by SIGINT"

# Errors of the file system or the network that the user causes and can fix.
_USER_ERRNOS = {
    errno.EACCES: "check the folder's owner and permissions",
    errno.EPERM: "check the folder's owner and permissions",
    errno.EROFS: "the file system is read-only; choose another folder",
    errno.ENOENT: "the folder cannot be created there; choose another folder",
    errno.ENOTDIR: "a file is in the way of that folder; choose another path",
    errno.EISDIR: "a folder is in the way of that file; choose another path",
    errno.ENOSPC: "the disk is full; free space or choose another folder",
    errno.EADDRINUSE: "the port is in use; choose another port or stop what uses it",
    errno.EADDRNOTAVAIL: "that address is not on this machine; use 127.0.0.1",
}


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside `exc`, depth first."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def _is_interrupt(exc: BaseException) -> bool:
    # Cancelled travels with an interrupt when trio unwinds the tasks it cancelled.
    return isinstance(exc, (KeyboardInterrupt, trio.Cancelled))


def describe(exc: BaseException) -> str | None:
    """One line for a user-caused failure, or None when `exc` is a bug."""
    if isinstance(exc, ConfigError):
        return f"bad config: {exc}"
    if isinstance(exc, RqError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _USER_ERRNOS:
        what = exc.strerror or os.strerror(exc.errno or 0)
        where = f": {exc.filename}" if exc.filename else ""
        return f"{what}{where} ({_USER_ERRNOS[exc.errno]})"
    return None


def guarded(prog: str, command: Callable[[], int], *, interrupt_code: int) -> int:
    """Run `command`; turn user errors and interrupts escaping it into an exit code."""
    try:
        return command()
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        found = leaves(exc)
        if all(_is_interrupt(leaf) for leaf in found):
            return interrupt_code
        lines = [line for leaf in found if (line := describe(leaf)) is not None]
        if lines and all(_is_interrupt(leaf) or describe(leaf) for leaf in found):
            print(f"{prog}: {lines[0]}", file=sys.stderr)
            return EXIT_USER_ERROR
        raise


def check_vault_writable(root: Path, config_source: str) -> None:
    """Fail before anything starts when the vault folder cannot be made or written."""
    probe = root / ".rq-write-check"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RqError(
            f"cannot write the vault folder {root} ({reason}): set [vault] root in "
            f"{config_source} to a folder you can write"
        ) from None
