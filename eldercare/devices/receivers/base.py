"""What every TCP device receiver needs, whatever its protocol: limits, framing loop, connection guard.

A protocol supplies a `split(buffer) -> frames` function that takes complete frames out of the buffer and
a per-connection handler; this module enforces the limits around them:

- a frame (or the bytes waiting to become one) longer than `max_frame` closes the connection, so neither
  an oversized frame nor a never-ending one can grow memory;
- a connection silent for `idle_timeout_s` is closed, and so is one whose started frame is not complete
  within `frame_timeout_s` (a frame trickled byte by byte must not hold a connection for ever);
- beyond `max_connections` open connections a new one is closed at once;
- no input, and no failure of one connection, ever propagates out of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Split = Callable[[bytearray], list[bytes]]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame: int = 1024
    idle_timeout_s: float = 180.0
    frame_timeout_s: float = 30.0
    max_connections: int = 10_000
    read_size: int = 4096


class FrameTooLong(Exception):
    """More bytes than a frame may have arrived without completing one."""


async def read_frames(reader: asyncio.StreamReader, split: Split, limits: Limits) -> AsyncIterator[bytes]:
    """Yield the frames of a stream until EOF; raises TimeoutError when idle or too slow, FrameTooLong on
    overflow."""
    loop = asyncio.get_running_loop()
    buffer = bytearray()
    pending_since = 0.0  # when the bytes now in the buffer started arriving
    while True:
        deadline = loop.time() + limits.idle_timeout_s
        if buffer:
            deadline = min(deadline, pending_since + limits.frame_timeout_s)
        async with asyncio.timeout_at(deadline):
            chunk = await reader.read(limits.read_size)
        if not chunk:
            return
        if not buffer:
            pending_since = loop.time()
        buffer += chunk
        for frame in split(buffer):
            if len(frame) > limits.max_frame:
                raise FrameTooLong(f"frame of {len(frame)} bytes")
            yield frame
            pending_since = loop.time()
        if len(buffer) > limits.max_frame:
            raise FrameTooLong(f"{len(buffer)} bytes without a complete frame")


def peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)


class ConnectionGuard:
    """The `client_connected_cb` for `asyncio.start_server`: limits, containment, closing, and `close_all`."""

    def __init__(self, handle: Handler, limits: Limits, name: str) -> None:
        self.handle, self.limits, self.name = handle, limits, name
        self.writers: set[asyncio.StreamWriter] = set()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.writers) >= self.limits.max_connections:
            log.warning("%s: %d connections open, refusing %s", self.name, len(self.writers), peer_name(writer))
            await close_quietly(writer)
            return
        self.writers.add(writer)
        try:
            await self.handle(reader, writer)
        except TimeoutError:
            log.info("%s: %s idle or too slow, closed", self.name, peer_name(writer))
        except FrameTooLong as exc:
            log.warning("%s: %s sent %s, closed", self.name, peer_name(writer), exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("%s: %s went away", self.name, peer_name(writer))
        except Exception:
            # One connection's bug must not stop a life-safety receiver; it is logged with its traceback.
            log.exception("%s: connection from %s failed", self.name, peer_name(writer))
        finally:
            self.writers.discard(writer)
            await close_quietly(writer)

    async def close_all(self) -> None:
        await asyncio.gather(*(close_quietly(writer) for writer in list(self.writers)))


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, TimeoutError):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
