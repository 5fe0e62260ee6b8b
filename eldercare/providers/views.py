"""The console of provider companies and emergency teams."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, g, render_template
from flask_babel import get_locale

from eldercare.catalog.models import ServiceCategory, ServiceType
from eldercare.core.auth import FIELD, roles
from eldercare.extensions import db
from eldercare.geo.models import Community, District

bp = Blueprint("provider_views", __name__, url_prefix="/provider")


def _zh() -> bool:
    return str(get_locale()) == "zh"


def _affiliation_name() -> str:
    """The company of a provider's staff, or the emergency team of a team member, in the page's language."""
    owner = g.user.provider if g.user.role == "provider_staff" else g.user.team
    if owner is None:
        return ""
    return owner.name_zh if _zh() else owner.name_en


def _catalogue() -> dict:
    """What a company may choose from in its profile: communities by district, service types by category."""
    name = "name_zh" if _zh() else "name_en"
    districts = [{"id": d.id, "name": getattr(d, name), "communities": []}
                 for d in db.session.scalars(sa.select(District).order_by(District.id))]
    by_id = {d["id"]: d for d in districts}
    for c in db.session.scalars(sa.select(Community).order_by(Community.id)):
        by_id[c.district_id]["communities"].append({"id": c.id, "name": getattr(c, name)})
    categories = [{"id": c.id, "name": getattr(c, name), "types": []}
                  for c in db.session.scalars(sa.select(ServiceCategory).order_by(ServiceCategory.sort_order,
                                                                                  ServiceCategory.id))]
    by_category = {c["id"]: c for c in categories}
    for t in db.session.scalars(sa.select(ServiceType).where(ServiceType.active.is_(True)).order_by(ServiceType.id)):
        by_category[t.category_id]["types"].append({"code": t.code, "name": getattr(t, name)})
    return {"districts": districts, "categories": [c for c in categories if c["types"]]}


@bp.get("/")
@roles(*FIELD)
def home():  # noqa: ANN201 - Flask view
    staff = g.user.role == "provider_staff"
    return render_template("provider/home.html", affiliation=_affiliation_name(),
                           catalogue=_catalogue() if staff else None)
