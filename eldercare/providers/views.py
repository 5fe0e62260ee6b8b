"""The console of provider companies and emergency teams."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_babel import get_locale

from eldercare.core.auth import FIELD, roles

bp = Blueprint("provider_views", __name__, url_prefix="/provider")


def _affiliation_name() -> str:
    """The company of a provider's staff, or the emergency team of a team member, in the page's language."""
    owner = g.user.provider if g.user.role == "provider_staff" else g.user.team
    if owner is None:
        return ""
    return owner.name_zh if str(get_locale()) == "zh" else owner.name_en


@bp.get("/")
@roles(*FIELD)
def home():  # noqa: ANN201 - Flask view
    return render_template("provider/home.html", affiliation=_affiliation_name())
