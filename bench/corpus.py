"""Seeded, reproducible recordings of simulator text frames (one raw OKX frame per line).

A corpus is what the exchange would have pushed to a client subscribed to `books`, `trades-all`
and `trades` of its instruments: book snapshots, 100 ms updates and heartbeats, one `trades-all`
push per fill and one aggregated `trades` push per taker order at one price, in event-time order
across instruments. It is generated on demand into `bench/out/` (git-ignored) by the project's
own simulator (`rq_actors.sim.market.Market` + `rq_actors.sim.frames`), so the same seed always
gives the same bytes. A sidecar `*.instruments.json` holds the REST instrument rows the
pipeline's metadata loader and the peer need.

Rates: `realistic` is ~35 fills/s on BTC-USDT-SWAP and ~30 on ETH-USDT-SWAP (the simulator's
own occasional 10x liquidation bursts included), books every 100 ms; `burst` is the same market
with 10x the taker and maker rates throughout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from rq_actors.sim.events import BookMessage, TradeGroup
from rq_actors.sim.frames import encode_book, encode_trades, encode_trades_all
from rq_actors.sim.instruments import instrument_row, spec_for
from rq_actors.sim.market import Market

OUT = Path(__file__).resolve().parent / "out"
START_MS = 1_765_710_000_000  # 2025-12-14T11:00:00Z, a fixed event-time origin
MAJORS = {"BTC-USDT-SWAP": 17.0, "ETH-USDT-SWAP": 14.0}  # taker orders/s -> ~35 / ~30 fills/s

_ARG = re.compile(r'"arg":\{"channel":"([^"]+)","instId":"([^"]+)"')
# `"ts":"…"` as OKX sends it, or with the spaces a re-serialised recording may add
_TS_KEY = '"ts"'
_TS = re.compile(r'"ts"\s*:\s*"(\d+)"')


@attrs.frozen
class CorpusSpec:
    name: str
    instruments: dict[str, float]  # instId -> taker orders per second
    duration_s: float
    seed: int = 7
    maker_scale: float = 1.0  # x the simulator's default maker changes per second
    aggregated: bool = True  # also write `trades` pushes (one per taker order at one price)

    @property
    def path(self) -> Path:
        return OUT / f"corpus_{self.name}_s{self.seed}_{self.duration_s:g}s.jsonl"


def realistic(duration_s: float, seed: int = 7) -> CorpusSpec:
    return CorpusSpec("realistic", dict(MAJORS), duration_s, seed)


def burst(duration_s: float, seed: int = 7) -> CorpusSpec:
    rates = {inst: rate * 10 for inst, rate in MAJORS.items()}
    return CorpusSpec("burst", rates, duration_s, seed, maker_scale=10.0)


def scale_instruments(n: int) -> list[str]:
    """`n` distinct generic swap instIds (the simulator quotes any valid instId)."""
    return [f"A{i:03d}-USDT-SWAP" for i in range(n)]


def frames(spec: CorpusSpec, *, step_ms: int = 1000) -> Iterator[str]:
    """Every frame of the corpus in publication order (merged across instruments by `ts`)."""
    markets = [
        Market(
            inst,
            seed=spec.seed * 1000 + i,
            start_ms=START_MS,
            trades_per_s=rate,
            maker_changes_per_s=30.0 * spec.maker_scale,
        )
        for i, (inst, rate) in enumerate(spec.instruments.items())
    ]
    end = START_MS + int(spec.duration_s * 1000)
    t = START_MS
    while t < end:
        t = min(t + step_ms, end)
        batch: list[tuple[int, int, list[str]]] = []
        for order, market in enumerate(markets):
            for event in market.advance_to(t):
                batch.append((event.ts_ms, order, _encode(event, spec.aggregated)))
        batch.sort(key=lambda item: (item[0], item[1]))  # stable: per-market order is kept
        for _, _, texts in batch:
            yield from texts


def _encode(event: TradeGroup | BookMessage, aggregated: bool) -> list[str]:
    if isinstance(event, BookMessage):
        return [encode_book(event)]
    out = [encode_trades_all(fill) for fill in event.fills]
    if aggregated:
        out.append(encode_trades(event))
    return out


def instrument_rows(inst_ids: list[str]) -> dict[str, dict[str, Any]]:
    """REST `public/instruments` rows for the instruments (the simulator's, as OKX lists them)."""
    return {inst: instrument_row(spec_for(inst), START_MS - 86_400_000) for inst in inst_ids}


def meta_path(corpus: Path) -> Path:
    return corpus.with_suffix(".instruments.json")


def ensure(spec: CorpusSpec) -> Path:
    """Write the corpus (and its instruments sidecar) unless it already exists; return its path."""
    path = spec.path
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for text in frames(spec):
                f.write(text)
                f.write("\n")
        tmp.replace(path)
    write_meta(path, list(spec.instruments))
    return path


def write_meta(corpus: Path, inst_ids: list[str]) -> Path:
    out = meta_path(corpus)
    out.write_bytes(orjson.dumps(instrument_rows(inst_ids), option=orjson.OPT_INDENT_2))
    return out


def read_meta(corpus: Path) -> dict[str, dict[str, Any]]:
    """The sidecar rows; for a user's file without one, rows for the instIds found in it."""
    path = meta_path(corpus)
    if path.exists():
        return orjson.loads(path.read_bytes())
    return instrument_rows(sorted(discover_instruments(corpus)))


# ---- reading frames back -------------------------------------------------------------------


def route_key(text: str) -> tuple[str, str] | None:
    """`(channel, instId)` of a data push, found without parsing the JSON (None for events)."""
    m = _ARG.search(text, 0, 200)
    if m is not None:
        return m.group(1), m.group(2)
    if '"data"' not in text:
        return None
    try:  # unusual key order: parse once (outside any hot path of well-formed corpora)
        arg = orjson.loads(text).get("arg") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return None
    channel, inst = arg.get("channel"), arg.get("instId")
    return (channel, inst) if isinstance(channel, str) and isinstance(inst, str) else None


def frame_ts_ms(text: str) -> int | None:
    """The event time of the last row of a push (`ts` of the newest row), cheaply."""
    i = text.rfind(_TS_KEY)
    while i >= 0:
        m = _TS.match(text, i)
        if m is not None:
            return int(m.group(1))
        i = text.rfind(_TS_KEY, 0, i)
    return None


def discover_instruments(corpus: Path) -> set[str]:
    found: set[str] = set()
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            key = route_key(line)
            if key is not None:
                found.add(key[1])
    return found


def iter_lines(corpus: Path) -> Iterator[str]:
    """Frames of a corpus file, without their newline; blank lines skipped."""
    with corpus.open(encoding="utf-8") as f:
        for line in f:
            text = line.rstrip("\r\n")
            if text:
                yield text


def select(corpus: Path, channels: set[str], out: Path) -> int:
    """Copy the frames of `channels` (what one pipeline config subscribes to) into `out`."""
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for text in iter_lines(corpus):
            key = route_key(text)
            if key is not None and key[0] in channels:
                f.write(text)
                f.write("\n")
                n += 1
    return n


def stats(corpus: Path) -> dict[str, Any]:
    """Counts per channel, frames, duration and bytes (for the table's header)."""
    per_channel: dict[str, int] = {}
    first = last = None
    n = size = 0
    for text in iter_lines(corpus):
        n += 1
        size += len(text) + 1
        key = route_key(text)
        channel = key[0] if key else "event"
        per_channel[channel] = per_channel.get(channel, 0) + 1
        ts = frame_ts_ms(text)
        if ts is not None:
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
    span = (last - first) / 1000 if first is not None and last is not None else 0.0
    return {"frames": n, "bytes": size, "span_s": span, "channels": per_channel}
