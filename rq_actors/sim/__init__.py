"""Local OKX simulator (SPEC §11): a faithful stand-in for OKX on loopback.

- `market`: seeded, I/O-free market generator (book, trades, seqIds) per instrument
- `frames`: pure encoders of the OKX WebSocket frames
- `recorder`: the truth that was published (fills, canonical book messages, replayed books)
- `server`: `Simulator`, `SimOptions`, `FaultOptions` (WebSocket + REST on trio)
- `cli`: `rq sim`
"""
