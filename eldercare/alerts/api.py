"""`/api/v1/notices`: the centre's broadcast to consoles (operators, a company, a team)."""

from __future__ import annotations

from flask import g

from eldercare.alerts import services
from eldercare.alerts.models import Notification
from eldercare.alerts.schemas import NoticeCreateSchema, NotificationSchema
from eldercare.core.auth import SUPERVISORS, roles
from eldercare.core.rest import ApiBlueprint
from eldercare.extensions import db

blp = ApiBlueprint("alerts", __name__, description="Incidents and notifications")


@blp.route("/notices", methods=["POST"])
@roles(*SUPERVISORS)
@blp.arguments(NoticeCreateSchema)
@blp.response(202, NotificationSchema)
@blp.doc(security=[{"bearer": []}])
def create_notice(data: dict) -> Notification:
    notification = services.send_notice(data["audience"], data["text"], sender=g.user,
                                         deliver_in_s=data["deliver_in_s"])
    db.session.commit()
    return notification
