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
# Provider companies with a console open (sid -> provider id): whoever has none is sent an SMS for an offer.
PROVIDER_KEY = "eldercare:presence:provider"
_locals: dict[str, dict[str, int]] = {REDIS_KEY: {}, PROVIDER_KEY: {}}
_local = _locals[REDIS_KEY]
_local_lock = threading.Lock()


class PresencePayloadSchema(EventPayloadSchema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(("online", "offline")))
    connections = ma.fields.Integer(required=True)


OPERATOR_PRESENCE = SocketEvent("operator.presence", PresencePayloadSchema())


def _redis() -> redis.Redis | None:
    url = current_app.config.get("REDIS_URL")
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) if url else None


def _entries(key: str = REDIS_KEY) -> dict[str, int]:
    client = _redis()
    if client is None:
        with _local_lock:
            return dict(_locals[key])
    try:
        return {sid.decode(): int(uid) for sid, uid in client.hgetall(key).items()}
    finally:
        client.close()


def _change(sid: str, user_id: int | None, key: str = REDIS_KEY) -> None:
    client = _redis()
    if client is None:
        with _local_lock:
            if user_id is None:
                _locals[key].pop(sid, None)
            else:
                _locals[key][sid] = user_id
        return
    try:
        if user_id is None:
            client.hdel(key, sid)
        else:
            client.hset(key, sid, user_id)
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


def provider_connected(sid: str, provider_id: int) -> None:
    try:
        _change(sid, provider_id, PROVIDER_KEY)
    except (redis.RedisError, OSError):
        log.warning("presence: could not record provider %s's console", provider_id, exc_info=True)


def provider_disconnected(sid: str) -> None:
    try:
        _change(sid, None, PROVIDER_KEY)
    except (redis.RedisError, OSError):
        log.warning("presence: could not record a provider console's disconnection", exc_info=True)


def provider_online(provider_id: int) -> bool:
    """Whether a console of the company is connected; when unsure (store unreachable) it is not, so the
    company gets the SMS rather than nothing."""
    try:
        return provider_id in _entries(PROVIDER_KEY).values()
    except (redis.RedisError, OSError):
        log.warning("presence: store unreachable", exc_info=True)
        return False


def forget_all() -> None:
    """For tests: nobody is connected."""
    client = _redis()
    if client is None:
        with _local_lock:
            for entries in _locals.values():
                entries.clear()
        return
    try:
        client.delete(REDIS_KEY, PROVIDER_KEY)
    finally:
        client.close()
