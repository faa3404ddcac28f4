"""Name what the live heap gains over a soak: `tracemalloc` snapshots of `rq-run`, compared.

A soak's `heap_kblocks` slope says *that* live objects grow; this says *where* they were
allocated. `bench.capped_run` calls `start_from_env()`, so

    python -m bench.soak ... --pipeline-env RQ_HEAP_TRACE_DIR=/tmp/trace \\
        --pipeline-env RQ_HEAP_TRACE_EVERY_S=600

dumps a snapshot of `rq-run`'s heap into that folder every 600 wall seconds, and

    python -m bench.heap_trace /tmp/trace --first 3 --last 9

prints the allocation sites that gained the most blocks between two of them.

tracemalloc is dear: at 4 instruments and speed 24, `rq-run` took ~14 % of a core untraced and
~93 % traced 6 frames deep; at 10 instruments, 12 frames deep, it fell behind for good.
`RQ_HEAP_TRACE_AFTER_S` starts tracing that many seconds after start-up (after the caches have
filled; only what is allocated from then on is traced, which is also what a leak is made of)
and `RQ_HEAP_TRACE_FRAMES` sets the traceback depth (default 12). A bounded buffer that turns
over (the last 50 health reports per actor, a rolling window) looks like growth until its
contents have all been replaced since tracing began: compare snapshots taken after that. Never
read a slope from a traced run.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import tracemalloc
from pathlib import Path

_FRAMES = "12"  # deep enough to get from a builtin container up to the actor that keeps it
_IGNORED = (tracemalloc.__file__, threading.__file__, __file__, "<frozen importlib._bootstrap>")


def start_from_env() -> None:
    """Trace allocations and dump snapshots if `RQ_HEAP_TRACE_DIR` is set; do nothing if not."""
    folder = os.environ.get("RQ_HEAP_TRACE_DIR")
    if not folder:
        return
    every_s = float(os.environ.get("RQ_HEAP_TRACE_EVERY_S", "600"))
    after_s = float(os.environ.get("RQ_HEAP_TRACE_AFTER_S", "0"))
    frames = int(os.environ.get("RQ_HEAP_TRACE_FRAMES", _FRAMES))
    Path(folder).mkdir(parents=True, exist_ok=True)
    args = (Path(folder), every_s, after_s, frames)
    threading.Thread(target=_dump_forever, args=args, daemon=True).start()


def _dump_forever(folder: Path, every_s: float, after_s: float, frames: int) -> None:
    time.sleep(after_s)
    tracemalloc.start(frames)
    n = 0
    while True:
        time.sleep(every_s)
        snapshot = tracemalloc.take_snapshot()
        tmp = folder / f".snap-{n:03d}.tmp"
        snapshot.dump(str(tmp))
        tmp.rename(folder / f"snap-{n:03d}.tm")  # a reader never sees half a snapshot
        n += 1


def _load(path: Path) -> tracemalloc.Snapshot:
    filters = [tracemalloc.Filter(False, name) for name in _IGNORED]
    return tracemalloc.Snapshot.load(str(path)).filter_traces(filters)


def report(first: Path, last: Path, top: int) -> str:
    """The `top` allocation sites (whole tracebacks) that gained the most blocks."""
    old, new = _load(first), _load(last)
    diffs = new.compare_to(old, "traceback")
    diffs.sort(key=lambda d: d.count_diff, reverse=True)
    total_blocks = sum(d.count_diff for d in diffs)
    total_bytes = sum(d.size_diff for d in diffs)
    lines = [f"{first.name} -> {last.name}: {total_blocks:+,} blocks, {total_bytes / 1e6:+.2f} MB"]
    for d in diffs[:top]:
        lines.append(f"\n{d.count_diff:+,} blocks ({d.size_diff / 1e3:+.1f} kB), now {d.count:,}")
        lines.extend(f"    {frame.filename}:{frame.lineno}" for frame in d.traceback)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.heap_trace", description=__doc__)
    parser.add_argument("folder", type=Path, help="RQ_HEAP_TRACE_DIR of a finished run")
    parser.add_argument("--first", type=int, default=0, help="snapshot number to compare from")
    parser.add_argument("--last", type=int, default=-1, help="snapshot number to compare to")
    parser.add_argument("--top", type=int, default=15, help="allocation sites to print")
    args = parser.parse_args()
    snaps = sorted(args.folder.glob("snap-*.tm"))
    if len(snaps) < 2:
        parser.error(f"{args.folder} holds {len(snaps)} snapshot(s); two are needed")
    try:
        first, last = snaps[args.first], snaps[args.last]
    except IndexError:
        parser.error(f"{args.folder} holds snapshots 0..{len(snaps) - 1}")
    print(report(first, last, args.top))


if __name__ == "__main__":
    main()
