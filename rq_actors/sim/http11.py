"""A small HTTP/1.1 server on trio and h11: keep-alive, GET, JSON bodies, abrupt drops."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import h11
import trio

Handler = Callable[[str, str, str], tuple[int, bytes] | None]
_MAX_RECV = 65_536
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
}


async def serve_http(
    listeners: Sequence[trio.SocketListener],
    handler: Handler,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `handler(method, target, client_ip)` until cancelled.

    The handler returns `(status, json_body)`, or None to close the connection unanswered.
    """

    async def _conn(stream: trio.SocketStream) -> None:
        await _serve_connection(stream, handler)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, _conn, list(listeners))
        task_status.started()


async def _serve_connection(stream: trio.SocketStream, handler: Handler) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        client = str(stream.socket.getpeername()[0])
    except OSError:
        client = "?"
    request: h11.Request | None = None
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(_MAX_RECV))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                reply = handler(request.method.decode(), request.target.decode(), client)
                if reply is None:
                    return
                await _respond(stream, conn, *reply)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
                request = None
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
    except h11.RemoteProtocolError:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            await _respond(stream, conn, 400, b'{"code":"400","msg":"Bad Request","data":[]}')
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _respond(
    stream: trio.SocketStream, conn: h11.Connection, status: int, body: bytes
) -> None:
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    head = h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b""))
    parts = [conn.send(head), conn.send(h11.Data(data=body)), conn.send(h11.EndOfMessage())]
    await stream.send_all(b"".join(p for p in parts if p))
