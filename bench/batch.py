"""Batch: `rq derive --rebuild` over a generated BTC-like vault vs the same 1m CVD and candles in
polars and DuckDB.

The vault is written directly with the project's own encoder (`rq_actors.core.trades.record
.encode_trade`) and metadata helpers (`rq_actors.io.instruments`): a seeded random walk on the
0.1 tick grid, 0.01-contract lots, Poisson arrivals (~17 trades/s), daily files by event time.
It is kept in `bench/out/` and reused while its parameters match.

The dataframe queries read the same JSONL files and compute what `derive_instrument(...,
kinds=("cvd", "candles"))` computes: 1m CVD in quote units (delta, buy/sell volume, count,
running and daily-session CVD) and 1m candles (OHLC, contract/base/quote volumes, buy/sell
base volume, count, first/last trade id, VWAP), rolled up to 5m, 15m, 1h, 4h and 1d, with exact
decimals (polars `Decimal`, DuckDB `DECIMAL(38, 10)`), and write each timeframe to NDJSON. The
1m CVD deltas and candle closes are cross-checked against ours.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from bench.corpus import OUT, START_MS
from rq_actors.config import parse_config
from rq_actors.core.timefmt import date_str
from rq_actors.core.trades.record import encode_trade
from rq_actors.io.instruments import meta_to_doc, parse_instrument_row, read_saved_meta
from rq_actors.io.metrics.batch import derive_instrument
from rq_actors.io.metrics.jobs import KINDS as ALL_KINDS
from rq_actors.io.vault.files import atomic_write_json
from rq_actors.io.vault.paths import VaultPaths
from rq_actors.messages import Trade
from rq_actors.sim.instruments import instrument_row, spec_for

INST = "BTC-USDT-SWAP"
TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}


def vault_dir(n: int, seed: int) -> Path:
    return OUT / f"batch_vault_{n}_s{seed}"


def ensure_vault(n: int, seed: int = 7) -> Path:
    root = vault_dir(n, seed)
    marker = root / ".complete"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    paths = VaultPaths(root)
    row = instrument_row(spec_for(INST), START_MS - 86_400_000)
    meta = parse_instrument_row(INST, row)
    atomic_write_json(paths.instrument_meta(INST), meta_to_doc(meta, row, START_MS))
    rng = random.Random(seed)
    ts, ticks, trade_id = START_MS, 600_000, 1_500_000_000
    by_day: dict[str, list[bytes]] = defaultdict(list)
    day_of = date_str
    for _ in range(n):
        ts += int(rng.expovariate(1 / 60.0))
        r = rng.random()
        ticks += -1 if r < 0.3 else (1 if r > 0.7 else 0)
        lots = 1 + int(rng.expovariate(1 / 40.0))
        side = "buy" if rng.random() < 0.5 else "sell"
        trade = Trade(INST, trade_id, ts, side, f"{ticks // 10}.{ticks % 10}", _lots(lots))
        by_day[day_of(ts)].append(encode_trade(trade, meta))
        trade_id += 1
    for day, lines in by_day.items():
        path = paths.trades_file(INST, int(_day_ms(day)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\n".join(lines) + b"\n")
    marker.write_text(str(n))
    return root


def _lots(lots: int) -> str:
    whole, frac = divmod(lots, 100)
    return f"{whole}.{frac:02d}".rstrip("0").rstrip(".")


def _day_ms(day: str) -> int:
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def run_derive(root: Path, kinds: tuple[str, ...]) -> dict[str, Any]:
    config = parse_config({"instruments": [INST], "vault": {"root": str(root)}})
    t0, c0 = time.perf_counter(), time.process_time()
    res = derive_instrument(config, INST, kinds, rebuild=True)
    return {
        "kinds": list(kinds),
        "trades": res.trades_read,
        "records": res.records_written,
        "elapsed_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
    }


def trade_files(root: Path) -> list[str]:
    return sorted(str(p) for p in VaultPaths(root).trades_dir(INST).glob("*.jsonl"))


def run_polars(root: Path) -> dict[str, Any]:
    import polars as pl

    files = trade_files(root)
    out = Path(tempfile.mkdtemp(prefix="rq-bench-polars-"))
    t0, c0 = time.perf_counter(), time.process_time()
    schema = {k: pl.String for k in ("timestamp_utc", "trade_id", "side", "price")}
    schema |= {"qty_contracts": pl.String, "ctVal": pl.String, "ctMult": pl.String}
    dec = pl.Decimal(38, 10)
    trades = (
        pl.scan_ndjson(files, schema=schema)
        .with_columns(
            ts=pl.col("timestamp_utc").str.strptime(pl.Datetime("ms"), "%Y-%m-%dT%H:%M:%S%.3fZ"),
            tid=pl.col("trade_id").cast(pl.Int64),
            px=pl.col("price").str.to_decimal(scale=10).cast(dec),
            qty=pl.col("qty_contracts").str.to_decimal(scale=10).cast(dec),
            ct=(
                pl.col("ctVal").str.to_decimal(scale=10) * pl.col("ctMult").str.to_decimal(scale=10)
            ),
        )
        .with_columns(base=(pl.col("qty") * pl.col("ct")).cast(dec))
        .with_columns(quote=(pl.col("base") * pl.col("px")).cast(dec), buy=pl.col("side") == "buy")
        .sort("ts", "tid")
        .with_columns(minute=pl.col("ts").dt.truncate("1m"))
    )
    zero = pl.lit(0).cast(dec)
    m1 = (
        trades.group_by("minute", maintain_order=True)
        .agg(
            buy_volume=pl.when("buy").then("quote").otherwise(zero).sum(),
            sell_volume=pl.when("buy").then(zero).otherwise("quote").sum(),
            trade_count=pl.len(),
            open=pl.col("px").first(),
            high=pl.col("px").max(),
            low=pl.col("px").min(),
            close=pl.col("px").last(),
            volume_contracts=pl.col("qty").sum(),
            volume_base=pl.col("base").sum(),
            volume_quote=pl.col("quote").sum(),
            buy_volume_base=pl.when("buy").then("base").otherwise(zero).sum(),
            first_trade_id=pl.col("tid").first(),
            last_trade_id=pl.col("tid").last(),
        )
        .with_columns(delta=pl.col("buy_volume") - pl.col("sell_volume"))
        .with_columns(
            cvd_value=pl.col("delta").cum_sum(),
            cvd_session=pl.col("delta").cum_sum().over(pl.col("minute").dt.date()),
        )
        .collect()
    )
    m1 = m1.head(m1.height - 1)  # the last minute is not final (no later trade): not written
    counts = {}
    for tf in TIMEFRAMES:
        frame = m1 if tf == "1m" else _rollup_polars(m1, tf)
        candles = frame.select(
            "minute",
            "open",
            "high",
            "low",
            "close",
            "volume_contracts",
            "volume_base",
            "volume_quote",
            "buy_volume_base",
            sell_volume_base=pl.col("volume_base") - pl.col("buy_volume_base"),
            trade_count="trade_count",
            first_trade_id="first_trade_id",
            last_trade_id="last_trade_id",
            vwap=(pl.col("volume_quote") / pl.col("volume_base")).round(8),
        )
        cvd = frame.select(
            "minute",
            "cvd_value",
            "delta",
            "buy_volume",
            "sell_volume",
            "trade_count",
            "cvd_session",
        )
        candles.write_ndjson(out / f"candles_{tf}.jsonl")
        cvd.write_ndjson(out / f"cvd_{tf}.jsonl")
        counts[tf] = frame.height
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    shutil.rmtree(out, ignore_errors=True)
    check = {
        str(t.replace(tzinfo=None).isoformat()) + "Z": (str(d), str(c))
        for t, d, c in m1.select("minute", "delta", "close").iter_rows()
    }
    return {"elapsed_s": elapsed, "cpu_s": cpu, "windows": counts, "_check": check}


def _rollup_polars(m1: Any, tf: str) -> Any:
    import polars as pl

    every = {"1h": "1h", "4h": "4h", "1d": "1d"}.get(tf, tf)
    return m1.group_by(pl.col("minute").dt.truncate(every), maintain_order=True).agg(
        open=pl.col("open").first(),
        high=pl.col("high").max(),
        low=pl.col("low").min(),
        close=pl.col("close").last(),
        volume_contracts=pl.col("volume_contracts").sum(),
        volume_base=pl.col("volume_base").sum(),
        volume_quote=pl.col("volume_quote").sum(),
        buy_volume_base=pl.col("buy_volume_base").sum(),
        trade_count=pl.col("trade_count").sum(),
        first_trade_id=pl.col("first_trade_id").first(),
        last_trade_id=pl.col("last_trade_id").last(),
        buy_volume=pl.col("buy_volume").sum(),
        sell_volume=pl.col("sell_volume").sum(),
        delta=pl.col("delta").sum(),
        cvd_value=pl.col("cvd_value").last(),
        cvd_session=pl.col("cvd_session").last(),
    )


def run_duckdb(root: Path) -> dict[str, Any]:
    import duckdb

    files = trade_files(root)
    out = Path(tempfile.mkdtemp(prefix="rq-bench-duckdb-"))
    t0, c0 = time.perf_counter(), time.process_time()
    con = duckdb.connect()
    cols = "{timestamp_utc:'VARCHAR',trade_id:'VARCHAR',side:'VARCHAR',price:'VARCHAR'," + (
        "qty_contracts:'VARCHAR',ctVal:'VARCHAR',ctMult:'VARCHAR'}"
    )
    con.execute(f"""
        CREATE TEMP TABLE m1 AS
        WITH t AS (
          SELECT CAST(timestamp_utc AS TIMESTAMP) AS ts, CAST(trade_id AS BIGINT) AS tid,
                 side = 'buy' AS buy, CAST(price AS DECIMAL(38,10)) AS px,
                 CAST(qty_contracts AS DECIMAL(38,10)) AS qty,
                 CAST(CAST(qty_contracts AS DECIMAL(38,10)) * CAST(ctVal AS DECIMAL(38,10))
                      * CAST(ctMult AS DECIMAL(38,10)) AS DECIMAL(38,10)) AS base
          FROM read_json({files!r}, columns={cols}, format='newline_delimited')
        ), q AS (SELECT *, CAST(base * px AS DECIMAL(38,10)) AS quote,
                        date_trunc('minute', ts) AS minute FROM t)
        SELECT minute,
          sum(CASE WHEN buy THEN quote ELSE 0 END) AS buy_volume,
          sum(CASE WHEN buy THEN 0 ELSE quote END) AS sell_volume,
          count(*) AS trade_count,
          arg_min(px, (ts, tid)) AS open, max(px) AS high, min(px) AS low,
          arg_max(px, (ts, tid)) AS close, sum(qty) AS volume_contracts,
          sum(base) AS volume_base, sum(quote) AS volume_quote,
          sum(CASE WHEN buy THEN base ELSE 0 END) AS buy_volume_base,
          min(tid) AS first_trade_id, max(tid) AS last_trade_id
        FROM q GROUP BY minute
    """)
    con.execute("""
        CREATE TEMP TABLE c1 AS
        SELECT *, buy_volume - sell_volume AS delta,
               sum(buy_volume - sell_volume) OVER (ORDER BY minute) AS cvd_value,
               sum(buy_volume - sell_volume) OVER (PARTITION BY CAST(minute AS DATE)
                                                   ORDER BY minute) AS cvd_session
        FROM m1 WHERE minute < (SELECT max(minute) FROM m1)
    """)
    counts = {}
    for tf in TIMEFRAMES:
        k = _MINUTES[tf]
        bucket = f"time_bucket(INTERVAL {k} MINUTE, minute)" if tf != "1m" else "minute"
        con.execute(f"""
            COPY (SELECT {bucket} AS t, arg_min(open, minute) AS open, max(high) AS high,
                         min(low) AS low, arg_max(close, minute) AS close,
                         sum(volume_contracts) AS volume_contracts, sum(volume_base) AS volume_base,
                         sum(volume_quote) AS volume_quote, sum(buy_volume_base) AS buy_base,
                         sum(volume_base) - sum(buy_volume_base) AS sell_base,
                         sum(trade_count) AS trade_count, min(first_trade_id) AS first_id,
                         max(last_trade_id) AS last_id,
                         round(sum(volume_quote) / sum(volume_base), 8) AS vwap,
                         sum(delta) AS delta, sum(buy_volume) AS buy_volume,
                         sum(sell_volume) AS sell_volume, arg_max(cvd_value, minute) AS cvd_value,
                         arg_max(cvd_session, minute) AS cvd_session
                  FROM c1 GROUP BY 1 ORDER BY 1) TO '{out / tf}.jsonl' (FORMAT json)
        """)
        counts[tf] = con.execute(f"SELECT count(DISTINCT {bucket}) FROM c1").fetchone()[0]
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    con.close()
    shutil.rmtree(out, ignore_errors=True)
    return {"elapsed_s": elapsed, "cpu_s": cpu, "windows": counts}


def our_1m(root: Path) -> dict[str, tuple[str, str]]:
    paths = VaultPaths(root)
    out: dict[str, tuple[str, str]] = {}
    cvd = {r["window_start_utc"]: r["delta"] for r in _jsonl(paths.cvd_file(INST, "1m", "*"))}
    for r in _jsonl(paths.candles_file(INST, "1m", "*")):
        out[r["open_time_utc"]] = (cvd.get(r["open_time_utc"], "?"), r["close"])
    return out


def _jsonl(pattern: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(pattern.parent.glob(pattern.name)):
        rows.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line)
    return rows


def compare(ours: dict[str, tuple[str, str]], theirs: dict[str, tuple[str, str]]) -> str:
    if set(ours) != set(theirs):
        return f"window sets differ ({len(ours)} ours vs {len(theirs)})"
    bad = [
        k
        for k, (d, c) in ours.items()
        if Decimal(d) != Decimal(theirs[k][0]) or Decimal(c) != Decimal(theirs[k][1])
    ]
    return "identical" if not bad else f"{len(bad)} windows differ, first {bad[0]}"


def _optional(module: str, fn: Any, root: Path) -> dict[str, Any]:
    """The dataframe engines are not project dependencies: skipped when not installed."""
    try:
        __import__(module)
    except ImportError:
        return {"skipped": f"{module} not installed (pip install {module})"}
    return fn(root)


def run(n: int, seed: int = 7) -> dict[str, Any]:
    t0 = time.perf_counter()
    root = ensure_vault(n, seed)
    gen_s = time.perf_counter() - t0
    assert read_saved_meta(VaultPaths(root), INST) is not None
    cvd_candles = run_derive(root, ("cvd", "candles"))
    ours = our_1m(root)
    full = run_derive(root, tuple(ALL_KINDS))
    pol = _optional("polars", run_polars, root)
    check = compare(ours, pol.pop("_check")) if "_check" in pol else "not run"
    duck = _optional("duckdb", run_duckdb, root)
    size = sum(Path(p).stat().st_size for p in trade_files(root)) / 2**20
    return {
        "trades": n,
        "vault_mb": size,
        "generate_s": gen_s,
        "derive_cvd_candles": cvd_candles,
        "derive_all": full,
        "polars": pol,
        "duckdb": duck,
        "polars_check": check,
    }
