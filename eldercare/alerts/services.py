"""Incident state machine and in-app notices. Services flush, never commit."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from eldercare.alerts.events import NOTICE
from eldercare.alerts.models import Incident, Notification
from eldercare.core.db import on_commit
from eldercare.core.errors import ApiError
from eldercare.core.events import (
    OPS_NAMESPACE,
    OPS_ROOM,
    PROVIDER_NAMESPACE,
    SUPERVISORS_ROOM,
    provider_room,
    team_room,
)
from eldercare.core.models import User
from eldercare.core.states import StateMachine
from eldercare.core.time import isoformat, utcnow
from eldercare.extensions import db
from eldercare.providers.models import EmergencyTeam, Provider

INCIDENT = StateMachine("incident", Incident, {
    "new": {"claimed", "escalated", "cancelled", "resolved"},
    "escalated": {"claimed", "cancelled", "resolved"},
    "claimed": {"in_progress", "on_hold", "new", "dispatched", "resolved", "cancelled"},
    "on_hold": {"claimed", "new", "escalated"},
    "in_progress": {"dispatched", "on_hold", "resolved", "cancelled"},
    "dispatched": {"in_progress", "resolved"},
    "resolved": {"closed"},
})


def _room(audience: str) -> tuple[str, str]:
    """(namespace, room) of an audience, after checking that the company or team exists."""
    if audience == "ops":
        return OPS_NAMESPACE, OPS_ROOM
    if audience == "supervisors":
        return OPS_NAMESPACE, SUPERVISORS_ROOM
    kind, _, raw_id = audience.partition(":")
    model, room = (Provider, provider_room) if kind == "provider" else (EmergencyTeam, team_room)
    if db.session.get(model, int(raw_id)) is None:
        raise ApiError(400, "bad_request", "Invalid input.", {"audience": [f"Unknown {kind}."]})
    return PROVIDER_NAMESPACE, room(int(raw_id))


def send_notice(audience: str, text: str, *, sender: User, deliver_in_s: int = 0) -> Notification:
    """Record an in-app notice and have the worker deliver it (after `deliver_in_s`)."""
    from eldercare.alerts.tasks import deliver_in_app

    namespace, room = _room(audience)
    due = utcnow() + timedelta(seconds=deliver_in_s)
    notification = Notification(
        purpose_type="notice", recipient_type="room", to_address=f"{namespace}#{room}", channel="in_app",
        template="notice", body=text, language=sender.language, next_attempt_at=due, created_by_id=sender.id,
    )
    db.session.add(notification)
    db.session.flush()
    notification_id = notification.id
    on_commit(db.session, lambda: deliver_in_app.apply_async((notification_id,), countdown=deliver_in_s))
    return notification


def deliver_notice(notification_id: int) -> bool:
    """Emit a queued notice once; a second delivery of the same task finds it sent and does nothing."""
    sent_at = utcnow()
    row = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.state == "queued")
        .values(state="sent", sent_at=sent_at, attempts=Notification.attempts + 1)
        .returning(Notification.to_address, Notification.body, Notification.created_by_id)
    ).first()
    if row is None:
        return False
    namespace, _, room = row.to_address.partition("#")
    sender = db.session.get(User, row.created_by_id) if row.created_by_id else None
    audience = room if namespace == PROVIDER_NAMESPACE else ("supervisors" if room == SUPERVISORS_ROOM else "ops")
    NOTICE.publish({"id": notification_id, "status": "sent", "audience": audience, "text": row.body,
                    "sent_at": isoformat(sent_at), "sender": sender.username if sender else "system"},
                   namespace=namespace, room=room)
    return True
