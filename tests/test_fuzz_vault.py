"""Fuzzing what a restart reads back from the vault (issue: reliability suite, part 1).

The policy, the same for every append-only file (docs/RELIABILITY.md):
- an unterminated last line (a crash mid-write) is cut off, silently, and re-captured or
  re-derived by the file's owner;
- a complete line that is not a record of the file cannot come from a crash: restore raises a
  clear error naming the file (and line) instead of guessing: `TradeVaultError` for trade files
  (the source of truth: a person must look), `DerivedOutputError` for derived outputs (the
  message says `rq derive --rebuild`, since they are re-derivable). L2 snapshot files are only
  read for the dedup timestamp: a bad last line there just disables that dedup.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rq_actors.actors.book import _last_timestamp
from rq_actors.core.timefmt import iso_s
from rq_actors.core.trades.record import TradeRecordError, decode_trade, encode_trade
from rq_actors.io.metrics.sink import DerivedOutputError, StreamSink
from rq_actors.io.vault.files import JsonlAppender, last_line
from rq_actors.io.vault.load import iter_trades
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.io.vault.trade_files import TradeVaultError, restore_last_trade_id
from tests.helpers.trades import BASE_TS, INST, META, trade

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOOD = b"".join(encode_trade(trade(i), META) + b"\n" for i in range(1, 6))

garbage = (
    st.binary(max_size=200)
    | st.sampled_from(
        [
            b'{"trade_id":"7"',  # torn JSON
            b"\x00" * 64,  # zero-filled blocks after a power loss
            b'{"hello":"world"}\n',  # complete, foreign
            b"not json\n",
            b'{"trade_id":"7","side":"buy"}\n',
            encode_trade(trade(9), META) + b"\n",  # a complete valid trade
            encode_trade(trade(9), META)[:-5],
            b"\n",
            b"\r\n",
        ]
    )
)


def _vault(tmp: str, content: bytes) -> tuple[VaultPaths, Path]:
    paths = VaultPaths(Path(tmp))
    path = paths.trades_file(INST, BASE_TS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return paths, path


@FUZZ
@given(tail=garbage)
@example(tail=b"")
def test_trade_file_tail_is_repaired_or_refused_clearly(tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths, path = _vault(tmp, GOOD + tail)
        complete = (GOOD + tail)[: (GOOD + tail).rfind(b"\n") + 1]
        try:
            last_id = restore_last_trade_id(paths, INST)
        except TradeVaultError as exc:
            assert str(path) in str(exc) and "not a trade record" in str(exc)
            with pytest.raises(TradeRecordError):
                decode_trade(complete.splitlines()[-1])
            return
        # repaired: the file ends at its last complete line, whose id is the position
        assert path.read_bytes() == complete
        assert last_id == decode_trade(complete.splitlines()[-1]).trade_id


@FUZZ
@given(cut=st.integers(0, len(GOOD)))
def test_trade_file_truncated_anywhere_restores_the_last_complete_line(cut: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths, path = _vault(tmp, GOOD[:cut])
        last_id = restore_last_trade_id(paths, INST)
        kept = GOOD[: GOOD[:cut].rfind(b"\n") + 1]
        assert path.read_bytes() == kept
        assert last_id == (len(kept.splitlines()) or None)


@FUZZ
@given(middle=garbage.filter(lambda b: b.endswith(b"\n")))
def test_reading_trades_back_names_a_bad_line(middle: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths, path = _vault(tmp, GOOD + middle + encode_trade(trade(10), META) + b"\n")
        try:
            ids = [t.trade_id for t in iter_trades(paths, INST)]
        except TradeVaultError as exc:
            assert str(path) in str(exc) or str(paths.trades_dir(INST)) in str(exc)
            return
        assert ids[:5] == [1, 2, 3, 4, 5] and ids[-1] == 10


# ---- derived outputs -------------------------------------------------------------------------

MINUTE = 60_000
T0 = BASE_TS - BASE_TS % MINUTE


def _sink(folder: Path) -> StreamSink:
    return StreamSink(folder, "window_start_utc")


def _record(i: int) -> bytes:
    return orjson.dumps({"window_start_utc": iso_s(T0 + i * MINUTE), "v": str(i)}) + b"\n"


DERIVED = b"".join(_record(i) for i in range(5))


@FUZZ
@given(tail=garbage | st.integers(0, len(DERIVED)).map(lambda n: DERIVED[n:]))
def test_derived_tail_is_repaired_or_refused_clearly(tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "2025-12-14.jsonl"
        path.write_bytes(DERIVED + tail)
        complete = (DERIVED + tail)[: (DERIVED + tail).rfind(b"\n") + 1]
        try:
            sink = _sink(folder)
        except DerivedOutputError as exc:
            assert str(path) in str(exc) and "rq derive --rebuild" in str(exc)
            return
        assert path.read_bytes() == complete
        last = orjson.loads(complete.splitlines()[-1])["window_start_utc"]
        assert iso_s(sink.last_ms) == last
        # re-emitting what is on disk writes nothing; the next window is appended once
        items = [(T0 + i * MINUTE, orjson.loads(_record(i))) for i in range(6)]
        before = path.read_bytes()
        written = sink.write(items)
        sink.close()
        assert path.read_bytes().startswith(before) and written <= 6


def test_derived_truncated_mid_line_is_cut_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "2025-12-14.jsonl"
    path.write_bytes(DERIVED[:-7])  # the 5th record torn
    sink = _sink(tmp_path)
    assert sink.write([(T0 + i * MINUTE, orjson.loads(_record(i))) for i in range(5)]) == 1
    sink.close()
    assert path.read_bytes() == DERIVED


# ---- L2 snapshot files and the appender ------------------------------------------------------


@FUZZ
@given(tail=garbage)
def test_l2_last_timestamp_never_raises_and_appends_stay_whole(tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "11.jsonl"
        path.write_bytes(b'{"timestamp_utc":"2025-12-14T11:00:00.000Z"}\n' + tail)
        stamp = _last_timestamp(path)
        assert stamp is None or isinstance(stamp, str)
        out = JsonlAppender()
        out.append(path, [b'{"timestamp_utc":"2025-12-14T11:00:02.000Z"}'])
        out.close()
        data = path.read_bytes()
        before = b'{"timestamp_utc":"2025-12-14T11:00:00.000Z"}\n' + tail
        # the torn tail was cut before appending: no line glues garbage to a record
        assert data == before[: before.rfind(b"\n") + 1] + (
            b'{"timestamp_utc":"2025-12-14T11:00:02.000Z"}\n'
        )
        assert last_line(path) == b'{"timestamp_utc":"2025-12-14T11:00:02.000Z"}'
