"""A minimal HTTP/1.1 keep-alive client on asyncio protocols, for load generation only.

aiohttp spends roughly half a millisecond of CPU per request on this kind of machine; at 500 requests/s on two cores
that is CPU taken from the server under test. This client sends pre-encoded requests over a LIFO pool of keep-alive
connections and parses only the status line, Content-Length / chunked framing and Connection: close, at a fraction
of that cost. It is not a general HTTP client: no redirects, no TLS, no pipelining, no retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection broke or the server's answer could not be framed."""


class _Conn(asyncio.Protocol):
    def __init__(self, pool: RawPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.keep = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._forget(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            parsed = self._parse()
        except Exception as exc:  # noqa: BLE001 - any framing problem fails this request
            self.waiter.set_exception(HttpError(str(exc)))
            return
        if parsed is not None:
            self.waiter.set_result(parsed)

    def _parse(self) -> tuple[int, bytes] | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buf[:end]).decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                self.keep = False
        body_start = end + 4
        if chunked:
            body = bytearray()
            pos = body_start
            while True:
                eol = self.buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                size = int(bytes(self.buf[pos:eol]).split(b";")[0], 16)
                if size == 0:
                    done = self.buf.find(b"\r\n\r\n", eol)
                    if done < 0:
                        return None
                    del self.buf[:done + 4]
                    return status, bytes(body)
                if len(self.buf) < eol + 2 + size + 2:
                    return None
                body += self.buf[eol + 2:eol + 2 + size]
                pos = eol + 2 + size + 2
        if length is None:
            length = 0 if status in (204, 304) or status < 200 else None
            if length is None:
                raise HttpError("response without Content-Length or chunked framing")
        if len(self.buf) < body_start + length:
            return None
        body = bytes(self.buf[body_start:body_start + length])
        del self.buf[:body_start + length]
        return status, body

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        try:
            return await self.waiter
        finally:
            self.waiter = None


class RawPool:
    """Keep-alive connections to one host:port; a request takes the most recently used idle one (LIFO)."""

    def __init__(self, base_url: str, limit: int = 256) -> None:
        u = urlsplit(base_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.hostport = f"{self.host}:{self.port}"
        self.limit = limit
        self._idle: list[_Conn] = []
        self._all: set[_Conn] = set()
        self._slots = asyncio.Semaphore(limit)

    def build(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        """Encode a request once; send it many times with send()."""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.hostport}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    def _forget(self, conn: _Conn) -> None:
        self._all.discard(conn)
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)

    async def _get(self) -> _Conn:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _Conn(self), self.host, self.port)
        self._all.add(conn)
        return conn

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        async with self._slots:
            conn = await self._get()
            try:
                status, body = await conn.request(raw)
            except BaseException:
                if conn.transport is not None:
                    conn.transport.close()
                self._forget(conn)
                raise
            if conn.keep and not conn.closed:
                self._idle.append(conn)
            else:
                if conn.transport is not None:
                    conn.transport.close()
                self._forget(conn)
            return status, body

    async def warm(self, n: int, path: str = "/healthz") -> None:
        """Open n connections now (before the clock starts)."""
        raw = self.build("GET", path, b"", {})
        conns = [await self._get() for _ in range(n)]
        for c in conns:
            await c.request(raw)
            self._idle.append(c)

    async def close(self) -> None:
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()
