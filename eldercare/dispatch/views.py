"""The call centre's order page (`/ops/orders`): intake, live status and ranking, call-back tasks, follow-up
calls, standing orders and (for supervisors) the escalated orders. Everything on it goes through the API."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from eldercare.core.auth import OPS, SUPERVISORS, roles

bp = Blueprint("order_views", __name__, url_prefix="/ops/orders")


@bp.get("")
@roles(*OPS)
def orders():  # noqa: ANN201 - Flask view
    return render_template("ops/orders.html", is_supervisor=g.user.role in SUPERVISORS)
