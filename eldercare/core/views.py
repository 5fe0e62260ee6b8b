"""Console pages shared by everyone: login, logout, language switch, the home redirect by role."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from eldercare.core import services
from eldercare.core.api import login_limit
from eldercare.core.auth import STAFF, login_session, public, roles
from eldercare.extensions import db

bp = Blueprint("core_views", __name__)

HOME_BY_ROLE = {"admin": "ops_views.home", "supervisor": "ops_views.home", "operator": "ops_views.home",
                "provider_staff": "provider_views.home", "team_member": "provider_views.home"}

ROLE_LABELS = {"admin": lazy_gettext("Administrator"), "supervisor": lazy_gettext("Supervisor"),
               "operator": lazy_gettext("Operator"), "provider_staff": lazy_gettext("Provider staff"),
               "team_member": lazy_gettext("Emergency team member")}


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: a crafted ?next= must not bounce a fresh login to another site.

    Browsers read `//host` and `/\\host` as another host, so both are refused along with any scheme.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) < 32 for char in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _login_error(form: LoginForm) -> str:
    if "csrf_token" in form.errors:
        return _("Your login form had expired. Please try again.")
    return _("Please enter your username and password.")


def _home_for(role: str) -> str:
    return url_for(HOME_BY_ROLE[role])


@bp.route("/login", methods=["GET", "POST"])
@public
@login_limit
def login():  # noqa: ANN201 - Flask view
    form = LoginForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("login.html", form=form, error=_login_error(form)), 400
        user = services.authenticate(form.username.data, form.password.data)
        db.session.commit()  # the audit event stands whatever the outcome
        if user is None:
            return render_template("login.html", form=form, error=_("Wrong username or password.")), 401
        login_session(user)
        return redirect(_safe_next(request.args.get("next")) or _home_for(user.role))
    return render_template("login.html", form=form, error=None)


@bp.post("/logout")
@roles(*STAFF)
def logout():  # noqa: ANN201 - Flask view
    logout_user()
    flash(_("You have logged out."))
    return redirect(url_for("core_views.login"))


@bp.get("/")
@roles(*STAFF)
def index():  # noqa: ANN201 - Flask view
    return redirect(_home_for(g.user.role))


@bp.app_template_global()
def lang_url(code: str) -> str:
    """This page in another language, keeping its other query arguments (e.g. the login's ?next=)."""
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    return f"{request.path}?{urlencode([*args, ('lang', code)])}"


@bp.app_template_global()
def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))
