"""The call-centre console (operators, supervisors, admins) and the supervisor view."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_babel import lazy_gettext

from eldercare.core.auth import OPS, SUPERVISORS, roles

bp = Blueprint("ops_views", __name__, url_prefix="/ops")

# What an operator may choose to end an incident with (alerts.models.OUTCOMES, less the system's own
# "cancelled_by_device"), in the order they are most often chosen.
OUTCOME_CHOICES = (
    ("false_alarm", lazy_gettext("False alarm")),
    ("reassurance", lazy_gettext("Reassurance given")),
    ("service_referral", lazy_gettext("Service referral")),
    ("family_attended", lazy_gettext("Family attended")),
    ("grid_leader_attended", lazy_gettext("Grid leader attended")),
    ("team_dispatched", lazy_gettext("Emergency team attended")),
    ("ambulance", lazy_gettext("Ambulance (120)")),
    ("no_answer_forced_entry", lazy_gettext("No answer: forced entry")),
    ("device_fault", lazy_gettext("Device fault")),
)


@bp.get("/")
@roles(*OPS)
def home():  # noqa: ANN201 - Flask view
    return render_template("ops/home.html", can_send_notices=g.user.role in SUPERVISORS,
                           outcome_choices=OUTCOME_CHOICES)


@bp.get("/supervisor")
@roles(*SUPERVISORS)
def supervisor():  # noqa: ANN201 - Flask view
    return render_template("ops/supervisor.html")
