"""The results table: one row per figure, with its ratio to the floor / the peer and the target."""

from __future__ import annotations

import math
import platform
import sys
from pathlib import Path
from typing import Any

import attrs


@attrs.define
class Row:
    figure: str
    value: str
    vs_floor: str = ""
    vs_peer: str = ""
    target: str = ""
    verdict: str = ""  # "met" | "NOT met" | ""


@attrs.define
class Table:
    title: str
    rows: list[Row | str] = attrs.field(factory=list)  # a str is a section heading

    def section(self, name: str) -> None:
        self.rows.append(name)

    def add(self, figure: str, value: str, **kw: str) -> None:
        self.rows.append(Row(figure, value, **kw))

    def render(self) -> str:
        head = Row("figure", "value", "vs floor", "vs peer", "target", "")
        rows = [r for r in self.rows if isinstance(r, Row)]
        cols = ("figure", "value", "vs_floor", "vs_peer", "target", "verdict")
        width = {c: max(len(getattr(r, c)) for r in [head, *rows]) for c in cols}
        total = sum(width.values()) + 2 * (len(cols) - 1)
        lines = [self.title, "=" * total, _fmt(head, width, cols), "-" * total]
        for r in self.rows:
            if isinstance(r, str):
                lines.append(f"[{r}]")
            else:
                lines.append(_fmt(r, width, cols))
        lines.append("=" * total)
        return "\n".join(lines)


def _fmt(row: Row, width: dict[str, int], cols: tuple[str, ...]) -> str:
    parts = []
    for c in cols:
        text = getattr(row, c)
        parts.append(text.rjust(width[c]) if c in ("value",) else text.ljust(width[c]))
    return "  ".join(parts).rstrip()


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "NOT met")


def num(x: float, unit: str = "", digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{digits}f}{(' ' + unit) if unit else ''}"


def ratio(x: float, y: float, digits: int = 2) -> str:
    if not x or not y or math.isnan(x) or math.isnan(y):
        return ""
    return f"{x / y:.{digits}f}x"


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, Python: the machine line of the report."""
    import os

    model = "?"
    mem_gb = float("nan")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(mem_gb, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
