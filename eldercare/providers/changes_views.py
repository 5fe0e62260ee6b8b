"""The centre's page of companies' profile change requests (`/admin/provider-changes`): what each company
asks to change, next to what matching uses now; approve (it applies at once) or reject, with a note."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from eldercare.catalog.models import ServiceType
from eldercare.core.auth import SUPERVISORS, roles
from eldercare.core.errors import ApiError
from eldercare.extensions import db
from eldercare.geo.models import Community
from eldercare.providers import changes
from eldercare.providers.models import ProviderChangeRequest

bp = Blueprint("provider_change_views", __name__, url_prefix="/admin/provider-changes")
RECENT = 20


def _names(model: type, key: str, values: list) -> dict:
    field = "name_zh" if str(get_locale()) == "zh" else "name_en"
    column = getattr(model, key)
    return dict(db.session.execute(sa.select(column, getattr(model, field)).where(column.in_(values))).all())


def _hours_text(hours: list[dict]) -> list[str]:
    days = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
    return [f"{days[h['weekday']]} {h['opens_at']}–{h['closes_at']}" for h in sorted(hours, key=lambda h: h["weekday"])]


def _list_diff(label: str, now: list, wanted: list, names: dict) -> dict:
    return {"label": label, "added": [names.get(v, v) for v in wanted if v not in now],
            "removed": [names.get(v, v) for v in now if v not in wanted], "count": len(wanted)}


def describe(change: ProviderChangeRequest) -> list[dict]:
    """Each field the request changes: what is added and removed (lists) or the value now and asked for."""
    current = change.previous if change.status == "approved" else changes.profile(change.provider)
    rows, payload = [], change.payload
    if "community_ids" in payload:
        ids = payload["community_ids"] + current["community_ids"]
        rows.append(_list_diff(_("Communities covered"), current["community_ids"], payload["community_ids"],
                               _names(Community, "id", ids)))
    if "service_types" in payload:
        codes = payload["service_types"] + current["service_types"]
        rows.append(_list_diff(_("Service types"), current["service_types"], payload["service_types"],
                               _names(ServiceType, "code", codes)))
    if "hours" in payload:
        rows.append({"label": _("Opening hours"), "now": ", ".join(_hours_text(current["hours"])) or _("Closed"),
                     "wanted": ", ".join(_hours_text(payload["hours"])) or _("Closed")})
    for field, label in (("daily_capacity", _("Daily capacity")), ("concurrent_capacity", _("Concurrent capacity"))):
        if field in payload:
            rows.append({"label": label, "now": current[field], "wanted": payload[field]})
    return rows


@bp.get("/")
@roles(*SUPERVISORS)
def index():  # noqa: ANN201 - Flask view
    pending = db.session.scalars(sa.select(ProviderChangeRequest).where(ProviderChangeRequest.status == "pending")
                                 .order_by(ProviderChangeRequest.id)).all()
    decided = db.session.scalars(sa.select(ProviderChangeRequest).where(ProviderChangeRequest.status != "pending")
                                 .order_by(ProviderChangeRequest.reviewed_at.desc()).limit(RECENT)).all()
    return render_template("admin/provider_changes.html", pending=pending, decided=decided, describe=describe)


def _decide(request_id: int, decision: str):  # noqa: ANN202 - Flask response
    # The CSRF token is checked by core.auth, as for every write through a session.
    note = (request.form.get("note") or "").strip()[:500] or None
    try:
        change = changes.get_request(request_id)
        (changes.approve if decision == "approve" else changes.reject)(change, g.user, note)
        db.session.commit()
        flash(_("Change request %(id)s approved: it applies to matching now.", id=request_id)
              if decision == "approve" else _("Change request %(id)s rejected.", id=request_id))
    except ApiError as exc:
        db.session.rollback()
        flash(_("Change request %(id)s was not found.", id=request_id) if exc.status == 404 else
              _("Change request %(id)s was already decided.", id=request_id), "error")
    return redirect(url_for(".index"))


@bp.post("/<int:request_id>/approve")
@roles(*SUPERVISORS)
def approve(request_id: int):  # noqa: ANN201 - Flask view
    return _decide(request_id, "approve")


@bp.post("/<int:request_id>/reject")
@roles(*SUPERVISORS)
def reject(request_id: int):  # noqa: ANN201 - Flask view
    return _decide(request_id, "reject")
