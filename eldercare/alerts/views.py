"""The call-centre console (operators, supervisors, admins)."""

from __future__ import annotations

from flask import Blueprint, render_template

from eldercare.core.auth import OPS, roles

bp = Blueprint("ops_views", __name__, url_prefix="/ops")


@bp.get("/")
@roles(*OPS)
def home():  # noqa: ANN201 - Flask view
    return render_template("ops/home.html")
