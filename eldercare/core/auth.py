"""Who may do what, decided in one place.

Every view declares its roles with `@roles(...)` (or `@public`); `enforce_roles`, run before every request,
authenticates the caller (bearer token or console session) and checks that declaration. A view that
declares nothing is refused: a forgotten decorator fails closed, never open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import current_user, login_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from eldercare.core.errors import ApiError
from eldercare.core.models import ROLES, User
from eldercare.core.time import utcnow
from eldercare.extensions import csrf, db, login_manager

F = TypeVar("F", bound=Callable)

STAFF = ROLES
OPS = ("admin", "supervisor", "operator")
SUPERVISORS = ("admin", "supervisor")
ADMIN = ("admin",)
FIELD = ("provider_staff", "team_member")
PUBLIC = "public"

_ROLE_ATTR = "eldercare_roles"


def roles(*allowed: str) -> Callable[[F], F]:
    unknown = set(allowed) - set(ROLES)
    if unknown or not allowed:
        raise ValueError(f"bad role declaration: {allowed}")

    def mark(view: F) -> F:
        setattr(view, _ROLE_ATTR, frozenset(allowed))
        return view

    return mark


def public(view: F) -> F:
    setattr(view, _ROLE_ATTR, PUBLIC)
    return view


def make_endpoint_public(app: Flask, endpoint: str) -> None:
    """For views we do not write ourselves (Flask's static files, the OpenAPI document)."""
    app.extensions.setdefault("eldercare.public_endpoints", set()).add(endpoint)


def endpoint_roles(app: Flask, endpoint: str) -> frozenset[str] | str | None:
    if endpoint in app.extensions.get("eldercare.public_endpoints", ()):
        return PUBLIC
    return declared_roles(app.view_functions[endpoint])


def declared_roles(view: Callable) -> frozenset[str] | str | None:
    # Flask-Smorest and MethodView wrap views; the declaration is copied by functools.wraps (__dict__).
    return getattr(view, _ROLE_ATTR, None) or getattr(getattr(view, "view_class", None), _ROLE_ATTR, None)


# --- tokens -------------------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="eldercare.api-token")


def issue_token(user: User) -> tuple[str, datetime]:
    ttl = current_app.config["ELDERCARE_TOKEN_TTL_S"]
    token = _serializer().dumps({"uid": user.id, "v": user.token_version})
    return token, utcnow() + timedelta(seconds=ttl)


def user_from_token(token: str) -> User | None:
    try:
        data = _serializer().loads(token, max_age=current_app.config["ELDERCARE_TOKEN_TTL_S"])
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    user = db.session.get(User, data.get("uid")) if isinstance(data.get("uid"), int) else None
    if user is None or not user.active or user.token_version != data.get("v"):
        return None
    return user


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or str(user.token_version) != version:
        return None
    return user


def authenticate_request() -> User | None:
    """The caller: a bearer token wins over the session (API clients never carry console cookies)."""
    token = bearer_token()
    if token is not None:
        g.auth_via = "token"
        return user_from_token(token)
    g.auth_via = "session"
    return current_user if current_user.is_authenticated else None


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def enforce_roles() -> object | None:
    if request.endpoint not in current_app.view_functions:
        return None  # 404/405 are answered by Flask itself
    allowed = endpoint_roles(current_app, request.endpoint)
    if allowed == PUBLIC:
        return None
    user = authenticate_request()
    g.user = user
    if user is None:
        if _is_api(request.path) or g.auth_via == "token":
            raise ApiError(401, "unauthenticated", "A valid bearer token or login session is required.")
        return redirect(url_for("core_views.login", next=request.full_path.rstrip("?")))
    if allowed is None or user.role not in allowed:
        raise ApiError(403, "forbidden", "Your role may not use this resource.")
    if g.auth_via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()  # cookies ride along with forged requests; bearer tokens do not
    return None


def login_session(user: User) -> None:
    login_user(user)


def init_app(app: Flask) -> None:
    app.before_request(enforce_roles)
    login_manager.login_view = "core_views.login"
