"""A fake alert receiver on real loopback HTTP (trio + h11): answers from a script, records all.

`Reply(status, body, headers)` answers one request; `Reply(hang=True)` reads the request, records
it and never answers. Requests beyond the script get `default`. `arrived_at` is trio's clock at
each request, so backoff and `retry_after` are checked under MockClock.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs
import h11
import orjson
import trio


@attrs.frozen
class Reply:
    status: int = 200
    body: Any = attrs.field(factory=lambda: {"ok": True})
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False


@attrs.frozen
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    arrived_at: float

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    def __init__(self, *script: Reply, default: Reply | None = None) -> None:
        self.script: deque[Reply] = deque(script)
        self.default = default or Reply()
        self.requests: list[Received] = []
        self.port = 0
        self._changed = trio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, *, task_status: trio.TaskStatus[Receiver] = trio.TASK_STATUS_IGNORED):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self)
        await trio.serve_listeners(self._handle, listeners)

    async def wait_for(self, count: int) -> list[Received]:
        while len(self.requests) < count:
            self._changed = trio.Event()
            await self._changed.wait()
        return self.requests

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            request: h11.Request | None = None
            body = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage) and request is not None:
                    break
                else:
                    return
            headers = {k.decode().lower(): v.decode() for k, v in request.headers}
            self.requests.append(
                Received(
                    request.method.decode(),
                    request.target.decode(),
                    headers,
                    body,
                    trio.current_time(),
                )
            )
            self._changed.set()
            reply = self.script.popleft() if self.script else self.default
            if reply.hang:
                await trio.sleep_forever()
            payload = orjson.dumps(reply.body)
            head = [("content-type", "application/json"), ("connection", "close")]
            head += [("content-length", str(len(payload))), *reply.headers]
            await stream.send_all(conn.send(h11.Response(status_code=reply.status, headers=head)))
            await stream.send_all(conn.send(h11.Data(data=payload)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
