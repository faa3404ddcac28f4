"""The peer: cryptofeed's OKX handler and its C order book over the same frames, in process.

Run with the Python that has cryptofeed (a separate venv; the project does not depend on it):
    /tmp/benchenv/bin/python bench/peer_cryptofeed.py --corpus FRAMES --meta ROWS.json
Prints one JSON object. Standalone on purpose: it imports nothing from rq_actors.

What it does: builds `cryptofeed.exchanges.OKX` for the corpus' instruments with `books` (L2)
and `trades` subscriptions (its `trades` handler also matches `trades-all` pushes), with the
symbol table filled from the same instrument rows instead of a REST call, and awaits its
`message_handler(text, conn, receipt_ts)` for every frame: `yapic.json.loads(parse_float=Decimal)`,
channel dispatch, `Decimal(px)`/`Decimal(sz)` per level into its C `order_book.OrderBook`
(`max_depth=400`), a `Trade` object per row, and one async callback per book message and trade
(the callbacks only count).

What it does not do: no sequence (seqId/prevSeqId) checks, no checksum (off by default), no
crossed-book check, no validation or quarantine of bad rows, no de-duplication, no persistence
of anything (no vault, no snapshots, no derived metrics), no WebSocket. So its rate is the
"parse + book" rate the issue compares the full pipeline with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _drive(corpus: str, rows: dict[str, Any]) -> dict[str, Any]:
    from cryptofeed.defines import L2_BOOK, TRADES
    from cryptofeed.exchanges import OKX
    from cryptofeed.symbols import Symbols

    normalized, info = OKX._parse_symbol_data([{"data": list(rows.values())}])
    Symbols.set(OKX.id, normalized, info)  # what `OKX.symbol_mapping()` would fetch over REST
    counts = {"books": 0, "trades": 0}

    async def on_book(book: Any, receipt: float) -> None:
        counts["books"] += 1

    async def on_trade(trade: Any, receipt: float) -> None:
        counts["trades"] += 1

    feed = OKX(
        symbols=list(normalized),
        channels=[L2_BOOK, TRADES],
        callbacks={L2_BOOK: on_book, TRADES: on_trade},
        max_depth=400,
    )
    handler = feed.message_handler
    rss_start = _rss_mb()
    frames = errors = 0
    now = time.time
    t0, c0 = time.perf_counter(), time.process_time()
    # streamed line by line, exactly like the floor and the rq_actors run read the same file
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            if line == "\n":
                continue
            frames += 1
            try:
                await handler(line, None, now())
            except Exception:  # cryptofeed's connection handler would log and reconnect
                errors += 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "frames": frames,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "errors": errors,
        "book_messages": counts["books"],
        "trades": counts["trades"],
        "rss_start_mb": rss_start,
        "rss_peak_mb": _rss_mb(),
        "python": sys.version.split()[0],
        "cryptofeed": _version("cryptofeed"),
        "order_book": _version("order_book"),
    }


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--meta", required=True, help="JSON: instId -> REST instruments row")
    args = ap.parse_args()
    with open(args.meta, encoding="utf-8") as f:
        rows = json.load(f)
    print(json.dumps(asyncio.run(_drive(args.corpus, rows))))


if __name__ == "__main__":
    main()
