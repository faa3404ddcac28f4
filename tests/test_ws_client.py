"""The batching WebSocket client over a real loopback socket: every message, in order, and a
burst read in batches no larger than the library's bounded queue; a connection without the
library attributes it relies on still works, one message per wait."""

from __future__ import annotations

import functools

import attrs
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from rq_actors.config import SocketConfig
from rq_actors.io import ws_client
from rq_actors.io.ws_client import BatchingWebSocket, open_websocket

N = 2_000


async def _burst(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.get_message()  # "go"
    for i in range(N):
        await ws.send_message(f'{{"n": {i}, "pad": "{"x" * (i % 300)}"}}')
    await ws.aclose()


@pytest.fixture
async def server_url(nursery: trio.Nursery) -> str:
    server = await nursery.start(
        functools.partial(serve_websocket, _burst, "127.0.0.1", 0, ssl_context=None)
    )
    return f"ws://127.0.0.1:{server.port}/"


async def test_a_burst_arrives_whole_in_order_and_in_bounded_batches(server_url: str) -> None:
    sizes: list[int] = []
    got: list[str | bytes] = []
    async with open_websocket(server_url, SocketConfig()) as ws:
        assert isinstance(ws._ws._send_channel, ws_client._EagerSend)  # the reader's side
        await ws.send_message("go")
        await trio.sleep(0.3)  # let the library's reader decode ahead of us
        with pytest.raises(ConnectionClosed):
            while True:
                batch = await ws.get_messages()
                sizes.append(len(batch))
                got.extend(batch)
    assert got == [f'{{"n": {i}, "pad": "{"x" * (i % 300)}"}}' for i in range(N)]
    assert max(sizes) > 1, sizes  # batches form: one wait for many messages
    assert max(sizes) <= ws_client.MESSAGE_QUEUE + 1  # the library's queue, plus one handed over


@attrs.define
class _PlainWs:
    """A connection without trio-websocket's channel attributes."""

    left: list[str]

    async def get_message(self) -> str:
        await trio.lowlevel.checkpoint()
        return self.left.pop(0)

    async def send_message(self, message: str | bytes) -> None:
        raise AssertionError("not used")


async def test_without_the_library_attributes_it_reads_one_message_per_wait() -> None:
    ws = BatchingWebSocket(_PlainWs(["a", "b", "c"]))  # type: ignore[arg-type]
    assert [await ws.get_messages() for _ in range(3)] == [["a"], ["b"], ["c"]]


async def test_the_reader_hands_over_without_a_checkpoint_while_there_is_room() -> None:
    send, recv = trio.open_memory_channel[str | bytes](2)
    eager = ws_client._EagerSend(send)
    with trio.testing.assert_no_checkpoints():
        await eager.send("a")
        await eager.send("b")
    with trio.move_on_after(0.05) as full:  # no room: it waits, as the channel's own send
        await eager.send("c")
    assert full.cancelled_caught
    async with eager:
        pass
    assert [m async for m in recv] == ["a", "b"]  # closed through the wrapper
