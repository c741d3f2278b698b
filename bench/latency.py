"""A round trip's latency between the benchmark's clients and its loopback server.

netem needs root and a kernel built with it (without CONFIG_NET_SCH_NETEM, `tc qdisc ...
netem` answers "Specified qdisc kind is unknown"), so the delay is a TCP proxy in its own process on
127.0.0.1, in front of the server: every byte is handed on half a round trip after it arrived,
in each direction, and a new connection waits one round trip before its first byte moves (the
handshake a real link would cost). Only the benchmark's own traffic goes through it: the tools
are pointed at its port. Bandwidth is not limited; what arrives is passed on in order, shifted
in time, so a client that keeps many requests in flight gains as it would on a real link. The
proxy's CPU is not counted as any tool's (its own process), and every tool pays the same.

    python bench/latency.py LISTEN_PORT TARGET_PORT RTT_MS     # prints "ready" when listening

`delayed(endpoint, rtt_ms)` runs it for bench/compare.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

HOST = "127.0.0.1"
CHUNK = 256 * 1024


async def _carry(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Everything `reader` gives, written to `writer` `delay` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((loop.time() + delay, data))
        except OSError:
            pass
        queue.put_nowait((loop.time() + delay, b""))

    async def send() -> None:
        while True:
            due, data = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            try:
                await writer.drain()
            except OSError:
                return

    await asyncio.gather(receive(), send())


async def _serve(listen: int, target: int, rtt: float) -> None:
    async def one(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(rtt)  # the handshake
        try:
            server_r, server_w = await asyncio.open_connection(HOST, target)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(
                _carry(client_r, server_w, rtt / 2), _carry(server_r, client_w, rtt / 2)
            )
        finally:
            for w in (client_w, server_w):
                with contextlib.suppress(OSError):
                    w.close()

    server = await asyncio.start_server(one, HOST, listen, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def delayed(target_port: int, listen_port: int, rtt_ms: float) -> Iterator[None]:
    """The proxy running from `listen_port` to `target_port` while the block runs."""
    process = subprocess.Popen(
        [
            sys.executable,
            os.path.abspath(__file__),
            str(listen_port),
            str(target_port),
            str(rtt_ms),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise SystemExit("the latency proxy did not start")
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    listen_port, target_port, rtt_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(listen_port, target_port, rtt_ms / 1000))
