"""Backtest outputs: outcome JSONL, summary JSON, a terminal/Markdown table and an HTML report.

Files (in the report folder): `outcomes.jsonl` (one outcome per setup × exit set, in detection
order), `summary.json`, `report.md`, `report.html` (self-contained: inline SVG, no scripts).
Nothing in them depends on the clock or the machine, so the same vault and options give
byte-identical files (the run time is printed, never written).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import orjson

from rq_actors.core.backtest.analysis import verdict_lines
from rq_actors.core.backtest.outcome import Outcome
from rq_actors.core.derive.candles import Candle
from rq_actors.core.timefmt import MS_PER_MINUTE, iso_ms
from rq_actors.io.backtest.run import BacktestResult
from rq_actors.io.vault.files import atomic_write_bytes

_COLS = (
    ("group", "setups", "filled", "fill_rate", "trades", "win_rate", "win_rate_ci95"),
    ("expectancy_bps", "expectancy_bps_ci95", "expectancy_r", "profit_factor"),
    ("pnl_quote", "max_drawdown_quote"),
)


def summary_doc(res: BacktestResult) -> dict[str, Any]:
    return {
        "instId": res.inst_id,
        "from_utc": iso_ms(res.first_ms),
        "to_utc": iso_ms(res.last_ms),
        "trades": res.trades,
        "dropped_trades": res.dropped,
        "setups_with_book": res.book_setups,
        "rules": [_plain(r) for r in res.rules],
        "exits": [_plain(e) for e in res.exits],
        **res.summary,
    }


def _plain(obj: Any) -> dict[str, Any]:
    return {k: (str(v) if not isinstance(v, int | bool | None) else v) for k, v in
            attrs.asdict(obj, recurse=False).items()}  # fmt: skip


def write_report(res: BacktestResult, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    lines = b"".join(orjson.dumps(o.record(res.tick)) + b"\n" for o in res.outcomes)
    doc = summary_doc(res)
    files = {
        "outcomes.jsonl": lines,
        "summary.json": orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n",
        "report.md": (format_text(doc) + "\n").encode(),
        "report.html": render_html(doc, res).encode(),
    }
    out = []
    for name, data in files.items():
        atomic_write_bytes(folder / name, data)
        out.append(folder / name)
    return out


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, list | tuple):
        return f"[{_cell(v[0])}, {_cell(v[1])}]"
    return str(v)


def _table(heads: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        out.append("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return out


def format_text(doc: Mapping[str, Any]) -> str:
    """The terminal table (also valid Markdown): groups, verdicts, breakdowns, the sweep."""
    out = [
        f"# Backtest {doc['instId']} {doc['from_utc']} → {doc['to_utc']}",
        "",
        f"{doc['trades']:,} trades replayed; base rules: {_rules_text(doc)}",
        "",
    ]
    heads = ["group", "setups", "filled", "trades", "win rate [95% CI]", "gross win",
             "exp bps [95% CI]", "exp R", "PF", "PnL quote", "max DD"]  # fmt: skip
    rows = []
    for g, s in doc["groups"].items():
        rows.append(
            [
                g,
                str(s["setups"]),
                str(s["filled"]),
                str(s["trades"]),
                f"{_cell(s['win_rate'])} {_cell(s['win_rate_ci95'])}",
                _cell(s["gross_win_rate"]),
                f"{_cell(s['expectancy_bps'])} {_cell(s['expectancy_bps_ci95'])}",
                _cell(s["expectancy_r"]),
                _cell(s["profit_factor"]),
                _cell(s["pnl_quote"]),
                _cell(s["max_drawdown_quote"]),
            ]
        )
    out += _table(heads, rows)
    out += ["", "## Verdict", ""] + [f"- {line}" for line in verdict_lines(dict(doc))]
    for name, buckets in doc["breakdown"].items():
        if not buckets:
            continue
        out += ["", f"## Signals by {name}", ""]
        out += _table(
            [name, "trades", "win rate [95% CI]", "exp bps", "exp R"],
            [
                [
                    k,
                    str(s["trades"]),
                    f"{_cell(s['win_rate'])} {_cell(s['win_rate_ci95'])}",
                    _cell(s["expectancy_bps"]),
                    _cell(s["expectancy_r"]),
                ]
                for k, s in buckets.items()
            ],
        )
    sweep = doc.get("sweep")
    if sweep:
        out += ["", "## Threshold sweep (signals; in-sample | held-out)", ""]
        out += _table(
            ["rules | exits", "in trades", "in exp bps", "out trades", "out exp bps"],
            [
                [
                    p["label"],
                    str(p["in_sample"]["trades"]),
                    _cell(p["in_sample"]["expectancy_bps"]),
                    str(p["out_of_sample"]["trades"]),
                    _cell(p["out_of_sample"]["expectancy_bps"]),
                ]
                for p in sweep["points"]
            ],
        )
        pick = sweep["pick"]
        out.append("")
        if pick is None:
            out.append(f"- No combination had {sweep['min_trades']} in-sample trades: no pick.")
        else:
            o = pick["out_of_sample"]
            out.append(
                f"- Pick (best in-sample expectancy): {pick['label']}; held out: {o['trades']} "
                f"trades, expectancy {_cell(o['expectancy_bps'])} bps "
                f"{_cell(o['expectancy_bps_ci95'])}: {pick['out_of_sample_vs_zero']['verdict']}."
            )
        out.append(f"- Warning: {sweep['warning']}")
    return "\n".join(out)


def _rules_text(doc: Mapping[str, Any]) -> str:
    r, e = doc["rules"][0], doc["exits"][0]
    return (
        f"age {r['age_min']}-{r['age_max']} min, touched ≥ {r['min_touched_surrounding']}, "
        f"fill {e['fill_rule']}, target {e['target']}, stop {e['stop']}, time stop "
        f"{e['time_stop_min']} min, fees maker {e['maker_fee_bps']} / taker {e['taker_fee_bps']} "
        f"bps"
    )


# ---------------------------------------------------------------- HTML


def render_html(doc: Mapping[str, Any], res: BacktestResult) -> str:
    base = [o for o in res.outcomes if o.setup.rules == 0 and o.exits == 0 and o.closed]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Backtest {html.escape(doc['instId'])}</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:1100px}"
        "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}th{background:#f3f3f3}"
        "pre{background:#f8f8f8;padding:8px;overflow:auto}</style></head><body>",
        f"<h1>Backtest {html.escape(doc['instId'])}</h1>",
        f"<p>{html.escape(doc['from_utc'])} → {html.escape(doc['to_utc'])}, "
        f"{doc['trades']:,} trades. {html.escape(_rules_text(doc))}</p>",
        "<h2>Verdict</h2><ul>",
        *[f"<li>{html.escape(line)}</li>" for line in verdict_lines(dict(doc))],
        "</ul><h2>Equity curve (quote, base rules, net of fees)</h2>",
    ]
    for group in ("signal", "baseline", "random"):
        pnl = [o.pnl_quote for o in base if o.setup.group == group]
        parts.append(f"<h3>{group}</h3>" + _equity_svg(pnl))
    parts.append("<h2>Signal win rate by bucket (95 % Wilson interval)</h2>")
    for name, buckets in doc["breakdown"].items():
        if buckets:
            parts.append(
                f"<figure style='display:inline-block;margin:4px 12px 4px 0'>"
                f"{_winrate_svg(buckets)}<figcaption>{html.escape(name)}</figcaption></figure>"
            )
    sig = [o for o in base if o.setup.group == "signal"]
    parts.append("<h2>MFE / MAE of signal trades (ticks)</h2>")
    parts.append(
        _hist_svg([o.mfe_ticks for o in sig], "MFE") + _hist_svg([o.mae_ticks for o in sig], "MAE")
    )
    parts.append("<h2>Example signal setups (1m candles, base rules)</h2>")
    first = {o.setup.seq: o for o in res.outcomes if o.exits == 0}
    for seq, bars in sorted(res.examples.items()):
        o = first.get(seq)
        if o is not None and bars:
            parts.append(_example_svg(bars, o, res.tick))
    parts.append("<h2>Full table</h2><pre>" + html.escape(format_text(doc)) + "</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _equity_svg(pnl: Sequence[Decimal], w: int = 900, h: int = 180) -> str:
    if not pnl:
        return "<p>no trades</p>"
    curve, total = [Decimal(0)], Decimal(0)
    for p in pnl:
        total += p
        curve.append(total)
    lo, hi = min(curve), max(curve)
    span = hi - lo or Decimal(1)
    pts = " ".join(
        f"{i * w / max(1, len(curve) - 1):.1f},{float((hi - v) / span) * (h - 10) + 5:.1f}"
        for i, v in enumerate(curve)
    )
    zero = float((hi - 0) / span) * (h - 10) + 5 if lo <= 0 <= hi else None
    axis = (
        ""
        if zero is None
        else f"<line x1='0' x2='{w}' y1='{zero:.1f}' y2='{zero:.1f}' stroke='#bbb'/>"
    )
    return (
        f"<svg width='{w}' height='{h}' style='border:1px solid #ddd'>{axis}"
        f"<polyline fill='none' stroke='#2266cc' stroke-width='1.5' points='{pts}'/>"
        f"<text x='4' y='14' font-size='11'>max {hi}</text>"
        f"<text x='4' y='{h - 4}' font-size='11'>min {lo}</text></svg>"
    )


def _winrate_svg(buckets: Mapping[str, Mapping[str, Any]], h: int = 160) -> str:
    items = [(k, s) for k, s in buckets.items() if s["trades"]]
    if not items:
        return "<p>no trades</p>"
    bw = 60
    w = bw * len(items) + 20
    out = [f"<svg width='{w}' height='{h + 30}' style='border:1px solid #ddd'>"]
    y50 = 5 + (h - 10) * 0.5
    out.append(f"<line x1='0' x2='{w}' y1='{y50}' y2='{y50}' stroke='#ccc' stroke-dasharray='4'/>")
    for i, (k, s) in enumerate(items):
        x = 10 + i * bw
        rate = float(s["win_rate"])
        top = 5 + (h - 10) * (1 - rate)
        out.append(
            f"<rect x='{x + 10}' y='{top:.1f}' width='{bw - 20}' "
            f"height='{h - 5 - top:.1f}' fill='#7aa7e0'/>"
        )
        lo_s, hi_s = s["win_rate_ci95"]
        ylo, yhi = 5 + (h - 10) * (1 - float(lo_s)), 5 + (h - 10) * (1 - float(hi_s))
        cx = x + bw / 2
        out.append(f"<line x1='{cx}' x2='{cx}' y1='{ylo:.1f}' y2='{yhi:.1f}' stroke='#000'/>")
        out.append(
            f"<text x='{cx}' y='{h + 12}' font-size='11' text-anchor='middle'>"
            f"{html.escape(k)}</text><text x='{cx}' y='{h + 25}' font-size='10' "
            f"text-anchor='middle'>n={s['trades']}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _hist_svg(values: Sequence[int], label: str, w: int = 440, h: int = 150) -> str:
    if not values:
        return f"<p>{label}: no trades</p>"
    top = max(values)
    bins = min(30, top + 1)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, v * bins // (top + 1))] += 1
    peak = max(counts)
    bw = w / bins
    bars = "".join(
        f"<rect x='{i * bw:.1f}' y='{h - 15 - (h - 25) * c / peak:.1f}' width='{bw - 1:.1f}' "
        f"height='{(h - 25) * c / peak:.1f}' fill='#e0a07a'/>"
        for i, c in enumerate(counts)
    )
    return (
        f"<svg width='{w}' height='{h}' style='border:1px solid #ddd;margin-right:8px'>{bars}"
        f"<text x='4' y='12' font-size='11'>{label} 0..{top} ticks, n={len(values)}</text></svg>"
    )


def _example_svg(bars: Sequence[Candle], o: Outcome, tick: Decimal) -> str:
    """Candles with the wick's candle (yellow), its tip (dashed), the setup instant (grey line),
    the fill (▲/▼) and the exit (●)."""
    s = o.setup
    levels = [Decimal(s.tip) * tick]
    if o.exit_px is not None:
        levels.append(Decimal(o.exit_px) * tick)
    lo = min([*(b.low for b in bars), *levels])
    hi = max([*(b.high for b in bars), *levels])
    span = hi - lo or tick
    cw, h, t0 = 9, 220, bars[0].open_time_ms
    w = cw * (len(bars) + 2) + 10

    def y(p: Decimal) -> float:
        return float((hi - p) / span) * (h - 20) + 10

    def x(ms: int) -> float:
        return 5 + (ms - t0) / MS_PER_MINUTE * cw

    out = [f"<svg width='{w}' height='{h + 20}' style='border:1px solid #ddd'>"]
    wx = x(s.created_ms - MS_PER_MINUTE)  # the wick's own candle
    out.append(f"<rect x='{wx:.1f}' y='0' width='{cw}' height='{h}' fill='#fff3b0'/>")
    for b in bars:
        cx = x(b.open_time_ms) + cw / 2
        colour = "#2a9d55" if b.close >= b.open else "#d24b4b"
        top, bottom = y(max(b.open, b.close)), y(min(b.open, b.close))
        out.append(
            f"<line x1='{cx:.1f}' x2='{cx:.1f}' y1='{y(b.high):.1f}' y2='{y(b.low):.1f}' "
            f"stroke='{colour}'/><rect x='{cx - 3:.1f}' y='{top:.1f}' width='6' "
            f"height='{max(1.0, bottom - top):.1f}' fill='{colour}'/>"
        )
    ty = y(levels[0])
    out.append(
        f"<line x1='0' x2='{w}' y1='{ty:.1f}' y2='{ty:.1f}' stroke='#555' stroke-dasharray='3'/>"
    )
    ax = x(s.as_of_ms)
    out.append(f"<line x1='{ax:.1f}' x2='{ax:.1f}' y1='0' y2='{h}' stroke='#aaa'/>")
    if o.fill_ms is not None:
        mark = "▼" if s.fade == "short" else "▲"
        out.append(
            f"<text x='{x(o.fill_ms) - 4:.1f}' y='{ty - 4:.1f}' font-size='11'>{mark}</text>"
        )
    if o.exit_ms is not None and o.exit_px is not None:
        ex, ey = x(o.exit_ms), y(Decimal(o.exit_px) * tick)
        out.append(f"<circle cx='{ex:.1f}' cy='{ey:.1f}' r='3' fill='#000'/>")
    label = (
        f"{s.id} · {s.tier} · age {s.age_min} min · size {s.size_ticks} · touched "
        f"{s.touched_surrounding}/{s.surrounding} · {o.status} {o.reason or ''} "
        f"{o.pnl_ticks:+d} ticks"
    )
    out.append(f"<text x='4' y='{h + 14}' font-size='11'>{html.escape(label)}</text></svg>")
    return "<div>" + "".join(out) + "</div>"
