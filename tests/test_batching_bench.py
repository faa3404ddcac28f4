"""The bench reads a user's corpus by event time whatever its JSON spacing (issue #14 item 4:
a re-serialised recording had reported "0 s of event time" and written 2 snapshots)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import corpus as corpora


def _frames() -> list[str]:
    spec = corpora.CorpusSpec("tiny", {"BTC-USDT-SWAP": 5.0}, 5.0, seed=3)
    path = corpora.ensure(spec)
    return list(corpora.iter_lines(path))


def test_event_time_is_read_from_compact_and_spaced_frames(tmp_path: Path) -> None:
    compact = _frames()
    spaced = [json.dumps(json.loads(t)) for t in compact]  # '"ts": "…"', as Python writes it
    assert any('"ts": "' in t for t in spaced)
    for a, b in zip(compact, spaced, strict=True):
        assert corpora.frame_ts_ms(a) == corpora.frame_ts_ms(b)
        assert corpora.route_key(a) == corpora.route_key(b)
    out = tmp_path / "spaced.jsonl"
    out.write_text("\n".join(spaced) + "\n")
    stamps = [ts for ts in map(corpora.frame_ts_ms, compact) if ts is not None]
    assert corpora.stats(out)["span_s"] == (max(stamps) - min(stamps)) / 1000 > 4.0


def test_frames_without_a_ts_have_no_event_time() -> None:
    assert corpora.frame_ts_ms('{"event":"subscribe","arg":{"channel":"books"}}') is None
    assert corpora.frame_ts_ms('{"data":[{"ts":"12x"}]}') is None
