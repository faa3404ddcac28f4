"""Where the trade vault of one instrument stands (SPEC §4, §5).

Trades are filed by their own event-time date, and the instrument's whole stream is strictly
increasing in trade id. At a UTC midnight OKX timestamps can step back a few milliseconds
between consecutive ids, so the highest id is not always in the newest file: the position is
the maximum over the last line of every daily file, which is cheap (one tail read per file).
"""

from __future__ import annotations

import re
from pathlib import Path

from rq_actors.core.trades.record import TradeRecordError, decode_trade
from rq_actors.errors import RqError
from rq_actors.io.vault.files import last_line, repair_torn_tail
from rq_actors.io.vault.paths import VaultPaths

_DAY_FILE = re.compile(r"\d{4}-\d{2}-\d{2}\.jsonl")


class TradeVaultError(RqError):
    """The trade vault is damaged in a way a restart cannot repair by itself."""


def day_files(paths: VaultPaths, inst_id: str) -> list[Path]:
    """The instrument's daily trade files, oldest first."""
    folder = paths.trades_dir(inst_id)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _DAY_FILE.fullmatch(p.name) and p.is_file())


def restore_last_trade_id(paths: VaultPaths, inst_id: str) -> int | None:
    """Cut torn tails off the trade files, then return the highest trade id written (or None).

    Every file is repaired, not only the newest: a backfill may have been appending to the
    previous day's file when the process died.
    """
    best: int | None = None
    for path in day_files(paths, inst_id):
        repair_torn_tail(path)
        line = last_line(path)
        if line is None:
            continue
        try:
            trade_id = decode_trade(line).trade_id
        except TradeRecordError as exc:
            raise TradeVaultError(f"{path}: last line is not a trade record: {exc}") from exc
        best = trade_id if best is None else max(best, trade_id)
    return best
