"""Socket.IO namespaces: `/ops` for the call centre, `/provider` for companies and emergency teams.

A connection authenticates with `auth={"token": ...}` or the console's login session and is refused
otherwise. The server alone puts a connection in its rooms (there is no "join" event), so provider staff
can only ever receive their own company's or team's events.
"""

from __future__ import annotations

import logging

from flask import request
from flask_login import current_user
from flask_socketio import Namespace, join_room

from eldercare.core import presence
from eldercare.core.auth import FIELD, OPS, SUPERVISORS, user_from_token
from eldercare.core.events import (
    OPS_NAMESPACE,
    OPS_ROOM,
    PROVIDER_NAMESPACE,
    SUPERVISORS_ROOM,
    provider_room,
    team_room,
    user_room,
)
from eldercare.core.models import User
from eldercare.extensions import db, socketio

log = logging.getLogger(__name__)


def socket_user(auth: object) -> User | None:
    if isinstance(auth, dict) and "token" in auth:
        token = auth["token"]
        return user_from_token(token) if isinstance(token, str) else None
    return current_user._get_current_object() if current_user.is_authenticated else None


class _AuthenticatedNamespace(Namespace):
    allowed_roles: tuple[str, ...] = ()

    def on_connect(self, auth: object = None) -> bool:
        try:
            user = socket_user(auth)
            if user is None or user.role not in self.allowed_roles:
                log.info("socket refused on %s from %s", self.namespace, request.remote_addr)
                return False
            for room in self.rooms_for(user):
                join_room(room)
            self.after_connect(user)
            return True
        finally:
            db.session.remove()

    def rooms_for(self, user: User) -> list[str]:
        raise NotImplementedError

    def after_connect(self, user: User) -> None:
        """For namespaces that keep track of who is connected."""

    def on_ping(self, data: object = None) -> dict:
        """Round-trip check for consoles (and the latency benchmark): echoes what it was sent. Only
        connections that passed `on_connect` reach here."""
        return {"echo": data if isinstance(data, int | float | str) else None}


class OpsNamespace(_AuthenticatedNamespace):
    allowed_roles = OPS

    def rooms_for(self, user: User) -> list[str]:
        rooms = [OPS_ROOM, user_room(user.id)]
        if user.role in SUPERVISORS:
            rooms.append(SUPERVISORS_ROOM)
        return rooms

    def after_connect(self, user: User) -> None:
        presence.connected(request.sid, user.id)

    def on_disconnect(self, reason: object = None) -> None:
        presence.disconnected(request.sid)


class ProviderNamespace(_AuthenticatedNamespace):
    allowed_roles = FIELD

    def rooms_for(self, user: User) -> list[str]:
        rooms = [user_room(user.id)]
        if user.role == "provider_staff":
            rooms.append(provider_room(user.provider_id))
        else:
            rooms.append(team_room(user.team_id))
        return rooms

    def after_connect(self, user: User) -> None:
        if user.role == "provider_staff" and user.provider_id is not None:
            presence.provider_connected(request.sid, user.provider_id)

    def on_disconnect(self, reason: object = None) -> None:
        presence.provider_disconnected(request.sid)


def register_namespaces() -> None:
    """Before `socketio.init_app`: the handlers are kept by the (process-wide) extension and handed to each
    server it creates, so they are added once however many apps a process builds."""
    known = {handler.namespace for handler in socketio.namespace_handlers}
    for handler in (OpsNamespace(OPS_NAMESPACE), ProviderNamespace(PROVIDER_NAMESPACE)):
        if handler.namespace not in known:
            socketio.on_namespace(handler)
