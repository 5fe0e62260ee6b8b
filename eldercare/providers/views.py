"""The console of provider companies and emergency teams."""

from __future__ import annotations

from flask import Blueprint, render_template

from eldercare.core.auth import FIELD, roles

bp = Blueprint("provider_views", __name__, url_prefix="/provider")


@bp.get("/")
@roles(*FIELD)
def home():  # noqa: ANN201 - Flask view
    return render_template("provider/home.html")
