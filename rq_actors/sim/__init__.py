"""Local OKX simulator (SPEC §11): a faithful stand-in for OKX on loopback.

- `market`: seeded, I/O-free market generator (book, trades, seqIds) per instrument
- `frames`: pure encoders of the OKX WebSocket frames
- `recorder`: the truth that was published (fills, canonical book messages, replayed books),
  the newest `SimOptions.record_limit` per instrument; `history`: the REST trade history, the
  newest `history_limit` fills (both bounded, see docs/RELIABILITY.md "Memory")
- trade ids and sequence numbers start from the market start time in µs (`id_origin`), so a
  restarted simulator continues the tape
- `server`: `Simulator`, `SimOptions`, `FaultOptions` (WebSocket + REST on trio)
- `cli`: `rq sim`
"""
