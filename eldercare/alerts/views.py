"""The call-centre console (operators, supervisors, admins) and the supervisor view."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from eldercare.core.auth import OPS, SUPERVISORS, roles

bp = Blueprint("ops_views", __name__, url_prefix="/ops")


@bp.get("/")
@roles(*OPS)
def home():  # noqa: ANN201 - Flask view
    return render_template("ops/home.html", can_send_notices=g.user.role in SUPERVISORS)


@bp.get("/supervisor")
@roles(*SUPERVISORS)
def supervisor():  # noqa: ANN201 - Flask view
    return render_template("ops/supervisor.html")
