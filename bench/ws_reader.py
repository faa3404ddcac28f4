"""The socket read path over loopback: one message per wait (trio-websocket as rq-actors used it
until 2026-12) against `rq_actors.io.ws_client` (batches), side by side in one run.

    python -m bench.ws_reader [--seconds 60] [--rounds 3]

A server process sends the realistic corpus (bench/corpus.py, OKX frames of two instruments)
as pre-encoded WebSocket frames, as fast as the socket takes them: the load of a process that
has fallen behind, or of a liquidation burst. The client, in this process, reads the way
`Connection` does: a reader task moves messages into a bounded queue, a parser task takes
everything queued at each wake-up and classifies each frame (`ws_protocol.classify`, the real
first parsing step). Printed per variant: client CPU µs per frame (the figure that counts on a
shared machine), frames per second of wall time, and frames per parser wake-up.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url

from bench import corpus as c
from rq_actors.config import SocketConfig
from rq_actors.core.okx.ws_protocol import classify
from rq_actors.io import ws_client

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
END = "END"


def _frame(payload: bytes) -> bytes:
    """An unmasked server→client text frame."""
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 1 << 16:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


async def _serve(port: int, blob: bytes) -> None:
    async def handle(stream: trio.SocketStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await stream.send_all(blob)
        await stream.receive_some(4096)  # the client's close frame
        await stream.send_all(b"\x88\x00")  # closing handshake: close, no payload
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(trio.serve_tcp, handle, port, host="127.0.0.1"))
        print("ready", flush=True)


def _client(url: str, batched: bool, queue_size: int) -> dict[str, float]:
    result: dict[str, float] = {}

    async def main() -> None:
        send_q, recv_q = trio.open_memory_channel[tuple[str | bytes, int]](queue_size)
        frames = wakeups = 0

        async def parser() -> None:
            nonlocal frames, wakeups
            async with recv_q:
                while True:
                    batch = [await recv_q.receive()]
                    while True:
                        try:
                            batch.append(recv_q.receive_nowait())
                        except trio.WouldBlock:
                            break
                    wakeups += 1
                    for text, _ in batch:
                        if text == END:
                            return
                        classify(text)  # type: ignore[arg-type]
                        frames += 1

        async def reader(get: object) -> None:
            while True:
                messages = await get()  # type: ignore[operator]
                now = time.monotonic_ns()
                for m in messages if batched else [messages]:
                    try:
                        send_q.send_nowait((m, now))
                    except trio.WouldBlock:
                        await send_q.send((m, now))
                    if m == END:
                        return

        if batched:
            opened = ws_client.open_websocket(url, SocketConfig())
        else:
            opened = open_websocket_url(url, max_message_size=SocketConfig().max_message_bytes)
        async with opened as ws:
            get = ws.get_messages if batched else ws.get_message  # type: ignore[union-attr]
            c0, t0 = time.process_time(), time.perf_counter()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(parser)
                nursery.start_soon(reader, get)
            result.update(
                cpu_us_per_frame=(time.process_time() - c0) / frames * 1e6,
                frames_per_s=frames / (time.perf_counter() - t0),
                frames_per_wakeup=frames / wakeups,
                frames=frames,
            )

    trio.run(main)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_server(corpus: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ws_reader", "--serve", str(port), str(corpus)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready"
    return proc, f"ws://127.0.0.1:{port}/"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="market seconds of corpus")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--serve", nargs=2, metavar=("PORT", "CORPUS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        lines = Path(args.serve[1]).read_bytes().splitlines()
        blob = b"".join(_frame(line) for line in lines if line) + _frame(END.encode())
        trio.run(_serve, int(args.serve[0]), blob)
        return
    corpus = c.ensure(c.realistic(args.seconds))
    print(f"corpus: {corpus.name}")
    queue_size = SocketConfig().queue_size
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for name, batched in (("one message per wait", False), ("batching client", True)):
            server, url = _run_server(corpus)
            try:
                r = _client(url, batched, queue_size)
            finally:
                server.kill()
                server.wait()
            if name not in best or r["cpu_us_per_frame"] < best[name]["cpu_us_per_frame"]:
                best[name] = r
    title = f"variant (best of {args.rounds})"
    print(f"{title:<24} {'CPU µs/frame':>13} {'frames/s':>10} {'frames/wake-up':>15}")
    for name, r in best.items():
        print(
            f"{name:<24} {r['cpu_us_per_frame']:>13.1f} {r['frames_per_s']:>10,.0f} "
            f"{r['frames_per_wakeup']:>15.1f}"
        )
    base, new = best["one message per wait"], best["batching client"]
    print(f"ratio: {base['cpu_us_per_frame'] / new['cpu_us_per_frame']:.2f}x less CPU per frame")


if __name__ == "__main__":
    main()
