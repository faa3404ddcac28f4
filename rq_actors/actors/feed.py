"""Non-blocking fan-out from the trade writer to the derived actors (SPEC §3).

Capture must never wait for a derived actor. The writer `offer`s each durable batch to every
`LiveFeed`; when a consumer's channel is full the feed turns `lagging` and drops further batches.
The consumer then catches up by reading the vault from its own cursor, and calls `rejoin()` once
it has read everything flushed so far. Because trio is single-threaded, no batch can be flushed
between the consumer's last synchronous vault read and `rejoin()`, so nothing falls in between;
consumers still skip anything at or before their cursor, which makes overlap harmless.

A consumer that lets batches gather (`gather`) wakes early once its channel is half full, so a
fast market fills the gathering window instead of overflowing it into a lagging catch-up.
"""

from __future__ import annotations

import trio

from rq_actors.messages import DurableTrades


class LiveFeed:
    def __init__(self, name: str, capacity: int = 256) -> None:
        self.name = name
        self._send, self.receive = trio.open_memory_channel[DurableTrades](capacity)
        self.lagging = False
        self.dropped_batches = 0
        self._high_water = max(1, capacity // 2)
        self._filled = trio.Event()

    def offer(self, batch: DurableTrades) -> bool:
        """Hand `batch` to the consumer if it keeps up; never blocks. True if delivered."""
        if self.lagging:
            self.dropped_batches += 1
            return False
        try:
            self._send.send_nowait(batch)
        except trio.WouldBlock:
            self.lagging = True
            self.dropped_batches += 1
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        if not self._filled.is_set() and self._queued() >= self._high_water:
            self._filled.set()
        return True

    async def gather(self, window_s: float) -> None:
        """Consumer: wait up to `window_s` for batches to gather; back early at half full."""
        self._filled = trio.Event()  # a fill signalled before this window is already drained
        if self._queued() < self._high_water:
            with trio.move_on_after(window_s):
                await self._filled.wait()

    def _queued(self) -> int:
        return self._send.statistics().current_buffer_used

    def rejoin(self) -> None:
        """Consumer: I have read the vault up to its end; send me live batches again."""
        self.lagging = False

    async def aclose(self) -> None:
        """Writer side is done (shutdown): the consumer's `async for` ends after the backlog."""
        await self._send.aclose()
