"""Where everything lives in the vault (SPEC §4). Dates and hours always come from event time."""

from __future__ import annotations

from pathlib import Path

import attrs

from rq_actors.core.meta import EXCHANGE, is_swap
from rq_actors.core.timefmt import date_str, hour_str

__all__ = ["EXCHANGE", "VaultPaths", "daily_file", "is_swap"]


def daily_file(folder: Path, day: str) -> Path:
    """The file of one UTC day (`YYYY-MM-DD`) in a daily-rotated stream folder."""
    return folder / f"{day}.jsonl"


@attrs.frozen
class VaultPaths:
    """The vault's layout under `root` (a `Path` or a `str`, e.g. `VaultPaths("vault-demo")`)."""

    root: Path = attrs.field(converter=Path)

    def trades_dir(self, inst_id: str) -> Path:
        kind = "trades_perps" if is_swap(inst_id) else "trades"
        return self.root / "raw" / EXCHANGE / kind / inst_id

    def trades_file(self, inst_id: str, ts_ms: int) -> Path:
        return self.trades_dir(inst_id) / f"{date_str(ts_ms)}.jsonl"

    def l2_dir(self, inst_id: str) -> Path:
        return self.root / "raw" / EXCHANGE / "l2_perps" / inst_id

    def l2_file(self, inst_id: str, ts_ms: int) -> Path:
        return self.l2_dir(inst_id) / date_str(ts_ms) / f"{hour_str(ts_ms)}.jsonl"

    def l2_updates_dir(self, inst_id: str) -> Path:
        return self.root / "raw" / EXCHANGE / "l2_updates" / inst_id

    def l2_updates_file(self, inst_id: str, ts_ms: int) -> Path:
        return self.l2_updates_dir(inst_id) / date_str(ts_ms) / f"{hour_str(ts_ms)}.jsonl"

    def instrument_meta(self, inst_id: str) -> Path:
        return self.root / "meta" / EXCHANGE / "instruments" / f"{inst_id}.json"

    def cvd_dir(self, inst_id: str) -> Path:
        return self.root / "derived" / "cvd" / EXCHANGE / inst_id

    def cvd_file(self, inst_id: str, tf: str, day: str) -> Path:
        return daily_file(self.cvd_dir(inst_id) / tf, day)

    def vwap_dir(self, inst_id: str) -> Path:
        return self.root / "derived" / "vwap" / EXCHANGE / "perps" / inst_id

    def vwap_file(self, inst_id: str, day: str) -> Path:
        return daily_file(self.vwap_dir(inst_id) / "1m", day)

    def candles_dir(self, inst_id: str) -> Path:
        return self.root / "derived" / "candles" / EXCHANGE / inst_id

    def candles_file(self, inst_id: str, tf: str, day: str) -> Path:
        return daily_file(self.candles_dir(inst_id) / tf, day)

    def wicks_dir(self, inst_id: str) -> Path:
        return self.root / "derived" / "wicks" / EXCHANGE / "perps" / inst_id

    def wick_events_file(self, inst_id: str, day: str) -> Path:
        return daily_file(self.wicks_dir(inst_id) / "events", day)

    def wicks_active(self, inst_id: str) -> Path:
        return self.wicks_dir(inst_id) / "wicks_active.json"

    def signals_dir(self, inst_id: str) -> Path:
        """The setup lifecycle stream (docs/SIGNALS.md)."""
        return self.root / "derived" / "signals" / EXCHANGE / inst_id

    def state_file(self, kind: str, inst_id: str) -> Path:
        return self.root / "state" / kind / EXCHANGE / f"{inst_id}.state.json"

    def quarantine_file(self, inst_id: str, day: str) -> Path:
        return self.root / "quarantine" / EXCHANGE / inst_id / f"{day}.jsonl"

    def health_log(self) -> Path:
        return self.root / "logs" / "health.jsonl"
