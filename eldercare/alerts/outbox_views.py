"""The outbox page (`/admin/outbox`): every SMS and call the platform has sent or would send, live.

In embedded mode, with no Twilio account, nothing leaves the machine: this page is where the messages of a
cascade can be read and answered ("simulate reply"), so that a demo or a drill can run a whole cascade.
With Twilio configured it is the delivery log, and the reply button is not offered.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from eldercare.alerts.notify_api import notification_query, simulate_reply
from eldercare.alerts.schemas import NOTIFICATION_STATE_FILTERS
from eldercare.alerts.senders import OutboxSender, sender_for
from eldercare.core.auth import SUPERVISORS, roles
from eldercare.core.errors import ApiError
from eldercare.core.rest import paginate
from eldercare.extensions import db

bp = Blueprint("outbox_views", __name__, url_prefix="/admin/outbox")
PER_PAGE = 50
STATE_LABELS = {
    "queued": lazy_gettext("Queued"), "sent": lazy_gettext("Sent"), "delivered": lazy_gettext("Delivered"),
    "failed": lazy_gettext("Failed"), "answered": lazy_gettext("Call answered"),
    "acknowledged": lazy_gettext("Acknowledged"), "expired": lazy_gettext("Expired"),
}


@bp.app_template_global()
def notification_state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


@bp.get("/")
@roles(*SUPERVISORS)
def outbox():  # noqa: ANN201 - Flask view
    state = request.args.get("state", "")
    state = state if state in NOTIFICATION_STATE_FILTERS else ""
    page = paginate(notification_query({"state": state}), {"page": request.args.get("page", 1, type=int) or 1,
                                                            "per_page": PER_PAGE})
    template = "admin/_outbox_rows.html" if request.args.get("fragment") else "admin/outbox.html"
    return render_template(template, page=page, state=state, states=NOTIFICATION_STATE_FILTERS,
                           outbox=isinstance(sender_for(current_app), OutboxSender))


@bp.post("/<int:notification_id>/reply")
@roles(*SUPERVISORS)
def reply(notification_id: int):  # noqa: ANN201 - Flask view
    # The CSRF token is checked by core.auth, as for every write through a session.
    try:
        simulate_reply(notification_id)
        db.session.commit()
        flash(_("Reply recorded: notification %(id)s acknowledged.", id=notification_id))
    except ApiError as exc:
        db.session.rollback()
        flash(_("Notification %(id)s was not found.", id=notification_id) if exc.status == 404 else
              _("Notification %(id)s can no longer be answered.", id=notification_id), "error")
    return redirect(url_for(".outbox", state=request.args.get("state") or None))
