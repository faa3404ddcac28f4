"""The errors rq reports to its user, as one tree under `RqError`.

An `RqError` is a condition the user can act on (a bad config key, an instrument the exchange
does not list, a saved state written with other settings, a damaged vault). Its message names
the thing at fault and says what to do, so a command prints `str(exc)` as one line and exits 2,
without a traceback. Anything else that escapes is a bug and keeps its traceback.

Each class lives with the code that raises it and subclasses `RqError`; the ones the pure core
raises live here, because the core may import nothing but itself, `messages`, `config` and this
module.
"""

from __future__ import annotations


class RqError(Exception):
    """Base of every user-actionable error: the message says what is wrong and what to do."""


class IncompatibleState(RqError, ValueError):
    """A saved state cannot be resumed: written for another instrument, version or settings,
    or unreadable. Resuming would silently mix meanings; `rq derive CONFIG --only KIND
    --rebuild` rebuilds it from the vault. Raised only for the saved state itself: a problem
    with the current config or instrument is reported as what it is, rebuild or not."""


class InstrumentMetaError(RqError):
    """The instrument's metadata is unusable (unknown instrument, unsupported contract type,
    impossible contract value). The message names the instrument and the reason."""
