"""A small forwarding proxy for the benchmarks: latency model and request recorder.

``Proxy(upstream, listen, delay=0.0, record=False)`` forwards every connection it accepts to
``upstream``. Addresses are ``("unix", path)`` or ``("tcp", host, port)``; a TCP listener takes
port 0 to get a free one, and binds only the host given (the benchmarks use loopback or the lab's
own bridge address).

- ``delay`` models a network between separate machines: each flight of bytes from the client
  to the server (a request; each TLS handshake flight; the connection itself) is forwarded
  ``delay`` seconds after it arrived, in order, without holding back the flights behind it
  (latency, not bandwidth). Answers come back at once, so ``delay`` is the round trip added.
- ``record`` parses the client's plain HTTP/1.1 (a unix socket; TLS cannot be read) and keeps
  every request as ``(method, target, body)`` in ``requests``, in the order they arrived.

The proxy runs an asyncio loop on its own thread; ``start()`` returns the listening address,
``close()`` stops it and closes every connection.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    body: bytes
    listener: str  # which proxy saw it (its label)


class _HttpRecorder:
    """Splits a client's byte stream into HTTP/1.1 requests (Content-Length bodies)."""

    def __init__(self, sink: list[Request], label: str, lock: threading.Lock):
        self.buf = b""
        self.sink, self.label, self.lock = sink, label, lock

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            method, target, _ = (head[0].split(" ") + ["", ""])[:3]
            with self.lock:
                self.sink.append(Request(method, target, body, self.label))


class Proxy:
    def __init__(self, upstream: tuple, listen: tuple, *, delay: float = 0.0, record: bool = False,
                 label: str = "", sink: list | None = None, sink_lock: threading.Lock | None = None):
        """``sink`` (with ``sink_lock``) lets several proxies record into one list, in the order
        the requests arrived across them."""
        self.upstream, self.listen, self.delay, self.record = upstream, listen, delay, record
        self.label = label
        self.requests: list[Request] = sink if sink is not None else []
        self._lock = sink_lock or threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task] = set()
        self.address: tuple | None = None

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> tuple:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._listen())
            except BaseException as exc:  # reported to the caller of start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"proxy-{self.label}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.address

    async def _listen(self) -> None:
        if self.listen[0] == "unix":
            path = self.listen[1]
            if os.path.exists(path):
                os.unlink(path)
            self._server = await asyncio.start_unix_server(self._serve, path=path)
            self.address = ("unix", path)
        else:
            host, port = self.listen[1], self.listen[2]
            self._server = await asyncio.start_server(self._serve, host=host, port=port)
            self.address = ("tcp", host, self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def stop() -> None:
            self._server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        if self.listen[0] == "unix" and os.path.exists(self.listen[1]):
            os.unlink(self.listen[1])
        self._loop = self._thread = None

    def __enter__(self) -> "Proxy":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one connection ---------------------------------------------------------------------------

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        s_writer = None
        try:
            if self.delay:
                await asyncio.sleep(self.delay)  # the connection's own round trip
            if self.upstream[0] == "unix":
                s_reader, s_writer = await asyncio.open_unix_connection(self.upstream[1])
            else:
                s_reader, s_writer = await asyncio.open_connection(self.upstream[1], self.upstream[2])
            recorder = _HttpRecorder(self.requests, self.label, self._lock) if self.record else None
            up = asyncio.ensure_future(self._upstream(c_reader, s_writer, recorder))
            down = asyncio.ensure_future(self._pipe(s_reader, c_writer))
            done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.exception()  # a reset connection ends the pair quietly
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (c_writer, s_writer):
                if w is not None:
                    w.close()
            self._conns.discard(task)

    async def _upstream(self, reader, writer, recorder) -> None:
        """Client to server: each flight forwarded ``delay`` after it arrived, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        sender = asyncio.ensure_future(forward())
        try:
            while True:
                data = await reader.read(65536)
                if recorder is not None and data:
                    recorder.feed(data)
                queue.put_nowait((loop.time() + self.delay, data or None))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()

    @staticmethod
    async def _pipe(reader, writer) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
