"""Who is connected to the `/ops` namespace right now (the supervisor view's "online" column).

One entry per Socket.IO connection (sid -> user id), added on connect and removed on disconnect. With
several web nodes (REDIS_URL set) the entries live in one Redis hash that every node shares; in embedded
mode, where one process serves every socket, a dict in that process is the whole truth.

Presence is advice for a supervisor, never a decision: a Redis error is logged and the page shows fewer
people online; and an entry left by a web node that died without its disconnects stays until the same
sid disconnects (or `forget_all`, which tests use).

Contract of `operator.presence` (namespace /ops, room `ops:supervisors`): `{"id": <user id>,
"status": "online" | "offline", "connections": <the user's open connections>}`.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

import marshmallow as ma
import redis
from flask import current_app

from eldercare.core.events import OPS_NAMESPACE, SUPERVISORS_ROOM, EventPayloadSchema, SocketEvent, emit_now

log = logging.getLogger(__name__)

REDIS_KEY = "eldercare:presence:ops"
_local: dict[str, int] = {}
_local_lock = threading.Lock()


class PresencePayloadSchema(EventPayloadSchema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(("online", "offline")))
    connections = ma.fields.Integer(required=True)


OPERATOR_PRESENCE = SocketEvent("operator.presence", PresencePayloadSchema())


def _redis() -> redis.Redis | None:
    url = current_app.config.get("REDIS_URL")
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) if url else None


def _entries() -> dict[str, int]:
    client = _redis()
    if client is None:
        with _local_lock:
            return dict(_local)
    try:
        return {sid.decode(): int(uid) for sid, uid in client.hgetall(REDIS_KEY).items()}
    finally:
        client.close()


def _change(sid: str, user_id: int | None) -> None:
    client = _redis()
    if client is None:
        with _local_lock:
            if user_id is None:
                _local.pop(sid, None)
            else:
                _local[sid] = user_id
        return
    try:
        if user_id is None:
            client.hdel(REDIS_KEY, sid)
        else:
            client.hset(REDIS_KEY, sid, user_id)
    finally:
        client.close()


def connections_by_user() -> Counter[int]:
    """{user id: open /ops connections}; empty when the shared store cannot be read."""
    try:
        return Counter(_entries().values())
    except (redis.RedisError, OSError):
        log.warning("presence: store unreachable", exc_info=True)
        return Counter()


def _announce(user_id: int) -> None:
    count = connections_by_user()[user_id]
    payload = {"id": user_id, "status": "online" if count else "offline", "connections": count}
    errors = OPERATOR_PRESENCE.schema.validate(payload)
    if errors:
        raise ValueError(f"presence payload invalid: {errors}")
    # Nothing is written to the database here, so there is no commit to wait for.
    emit_now(OPERATOR_PRESENCE.name, payload, namespace=OPS_NAMESPACE, room=SUPERVISORS_ROOM)


def connected(sid: str, user_id: int) -> None:
    try:
        _change(sid, user_id)
    except (redis.RedisError, OSError):
        log.warning("presence: could not record connection of user %s", user_id, exc_info=True)
        return
    _announce(user_id)


def disconnected(sid: str) -> None:
    try:
        user_id = _entries().get(sid)
        _change(sid, None)
    except (redis.RedisError, OSError):
        log.warning("presence: could not record a disconnection", exc_info=True)
        return
    if user_id is not None:
        _announce(user_id)


def forget_all() -> None:
    """For tests: nobody is connected."""
    client = _redis()
    if client is None:
        with _local_lock:
            _local.clear()
        return
    try:
        client.delete(REDIS_KEY)
    finally:
        client.close()
