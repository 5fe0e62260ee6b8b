"""Socket.IO events leave only after commit, through a schema.

Each domain's `events.py` declares its events with `SocketEvent(name, schema)`; `publish` shapes the
payload with the schema and emits it once the transaction commits. In debug and testing it also validates
the payload (a bad payload is a bug in the caller, raised at once); in production that second pass is
skipped: the payloads are built by our own code, the tests hold them to their schemas, and the alarm path
publishes one per incident of every batch. Rooms: `ops` (every operator, supervisor and admin),
`ops:supervisors`, `user:<id>`, `provider:<id>` (one company's staff), `team:<id>` (one emergency team).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import marshmallow as ma
from flask import current_app

from eldercare.core.db import on_commit
from eldercare.extensions import db, socketio

log = logging.getLogger(__name__)

OPS_NAMESPACE = "/ops"
PROVIDER_NAMESPACE = "/provider"
OPS_ROOM = "ops"
SUPERVISORS_ROOM = "ops:supervisors"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def provider_room(provider_id: int) -> str:
    return f"provider:{provider_id}"


def team_room(team_id: int) -> str:
    return f"team:{team_id}"


class EventPayloadSchema(ma.Schema):
    """What every event carries at least (CONTRACT.md, "Socket.IO")."""

    id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)


@dataclass(frozen=True)
class SocketEvent:
    name: str
    schema: ma.Schema

    def publish(self, payload: dict, *, namespace: str, room: str | None = None) -> None:
        data = self.schema.dump(payload)
        if current_app.debug or current_app.testing:
            errors = self.schema.validate(data)
            if errors:
                raise ValueError(f"event {self.name} payload invalid: {errors}")
        on_commit(db.session, lambda: emit_now(self.name, data, namespace=namespace, room=room))


def emit_now(name: str, data: dict, *, namespace: str, room: str | None) -> None:
    """Emit immediately. Only for after-commit hooks and tests; domain code calls `SocketEvent.publish`."""
    socketio.emit(name, data, namespace=namespace, to=room)
