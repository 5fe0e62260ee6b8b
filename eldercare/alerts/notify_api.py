"""`/api/v1/notifications` (the outbox, its simulated replies, the monthly usage) and
`/api/v1/incidents/<id>/cascade` (the response cascade: see it, start it, stop it)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app, g

from eldercare.alerts import cascade, claims, notify, plans
from eldercare.alerts.models import Notification
from eldercare.alerts.schemas import (
    CascadeStartSchema,
    CascadeViewSchema,
    NotificationDetailSchema,
    NotificationQuerySchema,
    UsageQuerySchema,
    UsageSchema,
)
from eldercare.alerts.senders import OutboxSender, sender_for
from eldercare.core.auth import OPS, SUPERVISORS, roles
from eldercare.core.errors import conflict, not_found
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.extensions import db

blp = ApiBlueprint("notifications", __name__, description="Notifications (SMS, calls) and the response cascade")
BEARER = [{"bearer": []}]


def notification_query(args: dict) -> sa.Select:
    query = sa.select(Notification).where(Notification.channel.in_(("sms", "voice")))
    for name in ("state", "channel", "purpose_type"):
        if args.get(name):
            query = query.where(getattr(Notification, name) == args[name])
    return query.order_by(Notification.id.desc())


@blp.route("/notifications", methods=["GET"])
@roles(*SUPERVISORS)
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, page_schema(NotificationDetailSchema))
@blp.doc(security=BEARER, description="SMS and calls, newest first (the outbox, in embedded mode).")
def list_notifications(args: dict) -> dict:
    return paginate(notification_query(args), args)


def simulate_reply(notification_id: int) -> Notification:
    """The outbox's "simulate reply": the recipient said yes (only when nothing is really sent)."""
    if not isinstance(sender_for(current_app), OutboxSender):
        raise conflict("Twilio is configured: replies come from the recipients, not from this button.")
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.channel not in ("sms", "voice"):
        raise not_found(f"Notification {notification_id}")
    if not notify.acknowledge(notification.id, via=f"outbox by {g.user.username}"):
        raise conflict(f"Notification {notification.id} is {notification.state}; it cannot be answered.",
                       status=notification.state)
    db.session.refresh(notification)
    return notification


@blp.route("/notifications/<int:notification_id>/simulate-reply", methods=["POST"])
@roles(*SUPERVISORS)
@blp.response(200, NotificationDetailSchema)
@blp.alt_response(409, description="Twilio is configured, or the notification can no longer be answered")
@blp.doc(security=BEARER)
def post_simulate_reply(notification_id: int) -> Notification:
    notification = simulate_reply(notification_id)
    db.session.commit()
    return notification


@blp.route("/notifications/usage", methods=["GET"])
@roles(*SUPERVISORS)
@blp.arguments(UsageQuerySchema, location="query")
@blp.response(200, UsageSchema)
@blp.doc(security=BEARER, description="Messages and call minutes of a month, for the cost report.")
def get_usage(args: dict) -> dict:
    year, month = map(int, args["month"].split("-"))
    return notify.usage(datetime(year, month, 1, tzinfo=UTC))


@blp.route("/incidents/<int:incident_id>/cascade", methods=["GET"])
@roles(*OPS)
@blp.response(200, CascadeViewSchema)
@blp.doc(security=BEARER)
def get_cascade(incident_id: int) -> dict:
    return cascade.view(claims.get_incident(incident_id).id)


@blp.route("/incidents/<int:incident_id>/cascade", methods=["POST"])
@roles(*OPS)
@blp.arguments(CascadeStartSchema)
@blp.response(200, CascadeViewSchema)
@blp.alt_response(409, description="Not held by you, closed, or of no household")
@blp.doc(security=BEARER, description="Start the response cascade now (the holder or a supervisor). A cascade "
         "already running is returned as it is.")
def start_cascade(data: dict, incident_id: int) -> dict:
    incident = claims.get_incident(incident_id)
    plans.require_actor(incident, g.user)
    cascade.start(incident, actor=g.user, reason=data["reason"])
    db.session.commit()
    return cascade.view(incident.id)


@blp.route("/incidents/<int:incident_id>/cascade/stop", methods=["POST"])
@roles(*OPS)
@blp.response(200, CascadeViewSchema)
@blp.doc(security=BEARER, description="Stop calling people (e.g. the resident answered after all).")
def stop_cascade(incident_id: int) -> dict:
    incident = claims.get_incident(incident_id)
    plans.require_actor(incident, g.user)
    cascade.stop(incident.id, reason=f"stopped by {g.user.username}")
    db.session.commit()
    return cascade.view(incident.id)
