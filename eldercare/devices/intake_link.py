"""The web workers' HTTP device events, committed by the receivers process (`ELDERCARE_INTAKE_SOCKET`).

A web worker's intake batcher is one thread among the dozens that serve requests: under load it waits for
the GIL after each of its round trips to the database, and the requests waiting for it wait with it (in the
ingest benchmark a batch spent two thirds of its time waiting, not working; docs/BENCHMARKS.md). The
receivers process commits the DC-09 and watch frames on a thread that competes only with its event loop.
With `ELDERCARE_INTAKE_SOCKET` set (a Unix socket path, the same for the web and receivers processes of a
node), a web request hands its event to that process and answers once it is committed there; events of
every web worker then share its batches.

Nothing changes about what a device is told: the reply comes only after the commit. If the receivers
process is down, or goes down while it holds the event, the web worker stores the event itself: the
idempotency key makes a second store of an event that did commit a repeat (the same event and incident).

Frames are a 4-byte length and a JSON array; the socket is created owner-only. At most `MAX_FRAME` bytes per
frame (an HTTP event is at most 64 KB).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
import threading
import time
from dataclasses import fields
from datetime import datetime

from eldercare.devices.intake import Inbound, Intake, Outcome, RateLimit

log = logging.getLogger(__name__)

MAX_FRAME = 1 << 20
_HEADER = struct.Struct(">I")
_FIELDS = tuple(field.name for field in fields(Inbound))
_TIMES = frozenset({"received_at", "occurred_at"})


class LinkError(Exception):
    """The receivers process failed to commit an event (as a reply decodes it)."""


# --- encoding --------------------------------------------------------------------------------------------

def encode(items: list[Inbound]) -> bytes:
    rows = []
    for item in items:
        row = []
        for name in _FIELDS:
            value = getattr(item, name)
            if name in _TIMES and value is not None:
                value = value.isoformat()
            elif name == "rate_limit" and value is not None:
                value = [value.events, value.seconds]
            row.append(value)
        rows.append(row)
    return _frame(rows)


def decode(payload: bytes) -> list[Inbound]:
    items = []
    for row in json.loads(payload):
        values = dict(zip(_FIELDS, row, strict=True))
        for name in _TIMES:
            if values[name] is not None:
                values[name] = datetime.fromisoformat(values[name])
        if values["rate_limit"] is not None:
            values["rate_limit"] = RateLimit(*values["rate_limit"])
        items.append(Inbound(**values))
    return items


def encode_results(results: list[Outcome | BaseException]) -> bytes:
    return _frame([[r.event_id, r.duplicate, r.incident_id, r.refused] if isinstance(r, Outcome)
                   else {"error": f"{type(r).__name__}: {r}"} for r in results])


def decode_results(payload: bytes) -> list[Outcome | LinkError]:
    return [LinkError(row["error"]) if isinstance(row, dict) else Outcome(*row) for row in json.loads(payload)]


def _frame(value: object) -> bytes:
    data = json.dumps(value, separators=(",", ":")).encode()
    return _HEADER.pack(len(data)) + data


# --- the web worker's side ---------------------------------------------------------------------------------

class IntakeLink:
    """A connection per request thread to the receivers process's intake socket."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path, self.timeout = path, timeout
        self._local = threading.local()
        self._warned_at = 0.0

    def store(self, inbound: Inbound) -> Outcome | None:
        """The event's outcome once the receivers process has committed it; None if it could not take it (the
        caller then commits the event itself)."""
        try:
            sock = self._socket()
            sock.sendall(encode([inbound]))
            result = decode_results(self._read_frame(sock))[0]
        except (OSError, ValueError) as exc:  # refused, reset, timed out, or a garbled reply
            self._close()
            self._warn(exc)
            return None
        if isinstance(result, LinkError):  # it took the event but could not commit it
            log.warning("the receivers process could not commit %s:%s (%s)", inbound.protocol,
                        inbound.idempotency_key, result)
            return None
        return result

    def _socket(self) -> socket.socket:
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                # From here on a blocking socket with the kernel's own timeouts: Python's timeout mode would
                # poll() before every send and recv, two more system calls per event on the alarm path.
                sock.settimeout(None)
                limit = struct.pack("ll", int(self.timeout), int(self.timeout % 1 * 1e6))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
            except OSError:
                sock.close()
                raise
            self._local.sock = sock
        return sock

    def _read_frame(self, sock: socket.socket) -> bytes:
        data = sock.recv(4096)  # the whole reply (tens of bytes), nearly always: one system call
        while len(data) < _HEADER.size:
            data += self._more(sock, _HEADER.size - len(data))
        (size,) = _HEADER.unpack_from(data)
        if size > MAX_FRAME:
            raise ValueError(f"reply of {size} bytes")
        while len(data) < _HEADER.size + size:
            data += self._more(sock, _HEADER.size + size - len(data))
        return data[_HEADER.size:_HEADER.size + size]

    @staticmethod
    def _more(sock: socket.socket, size: int) -> bytes:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionResetError("the receivers process closed the intake link")
        return chunk

    def close(self) -> None:
        """Close the calling thread's connection (the next `store` opens another)."""
        self._close()

    def _close(self) -> None:
        sock, self._local.sock = getattr(self._local, "sock", None), None
        if sock is not None:
            sock.close()

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:  # once a minute, not once per request, while the process is down
            self._warned_at = now
            log.warning("intake link %s unavailable (%s): web workers store device events themselves", self.path,
                        exc)


# --- the receivers process's side ------------------------------------------------------------------------

class IntakeLinkServer:
    """Serves the intake socket on the receivers' event loop: every event goes through `intake.store`, so the
    events of all connections that arrive within one turn of the loop are committed in one batch."""

    def __init__(self, intake: Intake, path: str) -> None:
        self.intake, self.path = intake, path
        self.server: asyncio.base_events.Server | None = None
        self.served = 0  # events handed in so far (the log and the tests read it)
        self._inode: int | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> IntakeLinkServer:
        if os.path.exists(self.path):
            os.unlink(self.path)  # left by a process that was killed; ours is the one serving now
        old_mask = os.umask(0o177)  # created owner-only: only this service's processes may hand in events
        try:
            self.server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_FRAME)
        finally:
            os.umask(old_mask)
        self._inode = os.stat(self.path).st_ino
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for task in list(self._connections):  # web workers still connected: they reconnect or fall back
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        try:
            if os.stat(self.path).st_ino == self._inode:  # not the socket of a process that replaced us
                os.unlink(self.path)
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                if size > MAX_FRAME:
                    log.error("intake link: a frame of %d bytes; connection closed", size)
                    return
                try:
                    items = decode(await reader.readexactly(size))
                except (ValueError, TypeError, KeyError) as exc:
                    log.error("intake link: a frame that is not a list of events (%s); connection closed", exc)
                    return
                self.served += len(items)
                results = await asyncio.gather(*(self.intake.store(item) for item in items), return_exceptions=True)
                writer.write(encode_results(list(results)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the web worker went away (restart, shutdown), or this server is stopping
        finally:
            self._connections.discard(task)
            writer.close()
