"""A stand-in database client: one request/response round trip over a local TCP socket."""

from __future__ import annotations

import socket


def query(conn: socket.socket, reader: socket.SocketIO) -> bytes:
    """Send one line and block until the server's reply line arrives."""
    conn.sendall(b"q\n")
    return reader.readline()
