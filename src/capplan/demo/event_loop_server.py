"""The demo service on one thread: an asyncio event loop that runs each request to completion.

This is the structure of an event-loop Python service (one worker of uvicorn or aiohttp, say)
whose handler does its CPU work synchronously: requests are taken one at a time, in the order
the loop finds their connections ready (epoll reports them in the order they became ready) and
each runs until its response is written, with no second thread competing for the interpreter lock.  For
CPU work that is exactly the single run-to-completion server of M/G/1.  A downstream wait
(``io_wait``) is an ``await``, so waits overlap across requests while the CPU parts do not.

With a database step (:class:`capplan.demo.dbstep.DatabaseStep`) a request runs its first CPU
part to completion, then awaits a connection of an asyncio pool (psycopg's
``AsyncConnectionPool``) and its query, during which the loop serves other requests, then runs
its second CPU part to completion when the loop next picks it up.  So the loop is one server for
the CPU parts of all requests, taken in the order they became ready, and the database waits of
many requests overlap up to the pool size: the structure of an async Python service whose
handlers ``await`` the driver.  The concurrency is not limited (one task per connection).

HTTP/1.1 with keep-alive, ``GET`` only (other methods are answered 501); a malformed request head
is answered 400 and the connection closed.  The endpoints and metrics are those of
:class:`capplan.demo.endpoints.Endpoints`.  Build one with
``capplan.demo.http_service.make_server(concurrency="event-loop")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from http import HTTPStatus

from capplan.demo.dbstep import AsyncPool, DatabaseStep
from capplan.demo.endpoints import Endpoints, Reply
from capplan.demo.steps import serve_async

__all__ = ["EventLoopServer"]

#: Longest request head accepted (bytes); a longer one is answered 400.
HEAD_LIMIT = 64 * 1024


class _BadRequestError(Exception):
    """A request head that is not HTTP/1.x."""


class EventLoopServer:
    """The demo service on one asyncio event loop (see the module docstring).

    The interface is the one of :class:`socketserver.BaseServer` that the demo's users need:
    :meth:`serve_forever` (blocks), :meth:`shutdown` (from another thread: stops the loop and
    waits for it), :meth:`server_close`, plus :attr:`port`.
    """

    def __init__(
        self,
        address: tuple[str, int],
        io_wait: float,
        database: DatabaseStep | None = None,
        backlog: int = 4096,
    ) -> None:
        self.io_wait = io_wait
        self.database = database
        self.pool: AsyncPool | None = None
        self.endpoints = Endpoints()
        self.registry = self.endpoints.registry
        self.socket = socket.create_server(address, backlog=backlog)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._ready = threading.Event()
        self._done = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` is called (from another thread) or the loop is interrupted."""
        self._started.set()
        try:
            asyncio.run(self._serve())
        finally:
            self._ready.set()
            self._done.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it has returned (call it from another thread)."""
        if not self._started.is_set():
            return
        self._ready.wait()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not self._done.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stop.set)
        self._done.wait()

    def server_close(self) -> None:
        """Close the listening socket."""
        self.socket.close()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.database is not None:
            self.pool = AsyncPool(self.database)
            try:
                await self.pool.open()
            except BaseException:
                self._ready.set()
                raise
        server = await asyncio.start_server(self._connection, sock=self.socket, limit=HEAD_LIMIT)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            if self.pool is not None:
                await self.pool.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except _BadRequestError as exc:
                    writer.write(_encode(Reply(400, f"{exc}\n".encode()), keep_alive=False))
                    await writer.drain()
                    return
                if request is None:
                    return
                method, target, keep_alive = request
                reply = await self._respond(method, target)
                writer.write(_encode(reply, keep_alive))
                await writer.drain()  # returns at once unless the client stopped reading
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:  # the server is shutting down: just close the connection
            return
        finally:
            writer.close()

    async def _respond(self, method: str, target: str) -> Reply:
        if method != "GET":
            return Reply(501, f"method {method} is not supported\n".encode())
        routed = self.endpoints.route(target)
        if isinstance(routed, Reply):
            return routed
        checksum = await serve_async(self.endpoints, routed, self.io_wait, self.pool)
        return self.endpoints.served(checksum)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bool] | None:
    """``(method, target, keep_alive)`` of the next request, or None at a clean end of stream.

    A request body (``Content-Length``) is read and discarded.
    """
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _BadRequestError("incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise _BadRequestError(f"request head longer than {HEAD_LIMIT} bytes") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise _BadRequestError(f"bad request line {lines[0][:200]!r}")
    method, target, version = parts
    headers = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequestError(f"bad header line {line[:200]!r}")
            headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadRequestError("Content-Length is not an integer") from None
    if length < 0:
        raise _BadRequestError("Content-Length is negative")
    if length:
        await reader.readexactly(length)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return method, target, keep_alive


def _encode(reply: Reply, keep_alive: bool) -> bytes:
    """The response as one buffer, so it leaves in one ``send``."""
    close = "" if keep_alive else "Connection: close\r\n"
    head = (
        f"HTTP/1.1 {reply.code} {HTTPStatus(reply.code).phrase}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n{close}\r\n"
    )
    return head.encode("latin-1") + reply.body
