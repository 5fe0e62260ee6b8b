"""The Socket.IO message queue (Redis), able to publish a batch of events in one round trip.

Every web and worker process announces its events to the others through one Redis channel, one PUBLISH
each. The intake announces an event for every incident a batch opens or counts into: a round trip each,
on the one thread that commits the batches, after the commit and before its devices hear back. Within
`publishing_together()` the publishes wait and leave together in one pipeline when the block ends; the
events reach this process's own clients at once, as always.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import socketio

from eldercare.extensions import socketio as flask_socketio

log = logging.getLogger(__name__)


class RedisQueue(socketio.RedisManager):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._held = threading.local()  # per thread: publishes waiting for the end of a `together` block

    def _publish(self, data: dict) -> None:
        held = getattr(self._held, "messages", None)
        if held is None:
            super()._publish(data)
        else:
            held.append(data)

    @contextmanager
    def together(self) -> Iterator[None]:
        if getattr(self._held, "messages", None) is not None:
            yield  # already inside one: the outer block sends
            return
        self._held.messages = []
        try:
            yield
        finally:
            messages, self._held.messages = self._held.messages, None
            if messages:
                self._publish_all(messages)

    def _publish_all(self, messages: list[dict]) -> None:
        # As RedisManager._publish: one reconnection and a second attempt, then the failure is logged (the
        # consoles also catch up from the API when they reconnect).
        for attempt in (1, 2):
            try:
                if not self.connected:
                    self._redis_connect()
                pipe = self.redis.pipeline(transaction=False)
                for message in messages:
                    pipe.publish(self.channel, self.json.dumps(message))
                pipe.execute()
                return
            except Exception:
                self.connected = False
                log.exception("publishing %d Socket.IO events to Redis failed (attempt %d)", len(messages), attempt)


def client_manager(url: str | None, channel: str) -> RedisQueue | None:
    """The manager to give Flask-SocketIO for this message-queue URL (None: let it choose its own)."""
    if url and url.startswith(("redis://", "rediss://")):
        return RedisQueue(url, channel=channel)
    return None


@contextmanager
def publishing_together() -> Iterator[None]:
    """Socket.IO events emitted by this thread within the block reach the other processes in one round trip."""
    manager = getattr(flask_socketio.server, "manager", None)
    if isinstance(manager, RedisQueue):
        with manager.together():
            yield
    else:
        yield
