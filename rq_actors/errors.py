"""The project's user-facing error base: an `RqError` is caused by the user (bad input, a path
that cannot be written) and its message says what to do; the CLI prints it as one line."""

from __future__ import annotations


class RqError(Exception):
    pass
