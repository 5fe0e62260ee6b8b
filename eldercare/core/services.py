"""Accounts: authentication and user creation. Services flush, never commit."""

from __future__ import annotations

import sqlalchemy as sa

from eldercare.core import audit
from eldercare.core.errors import ApiError
from eldercare.core.models import User
from eldercare.core.time import utcnow
from eldercare.extensions import db

# Checked against when the username is unknown, so a wrong username costs as long as a wrong password
# (no user enumeration by timing).
_DUMMY = User(username="-", role="operator")
_DUMMY.set_password("not-a-real-password")


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.active:
        _DUMMY.check_password(password)
        audit.record("auth.login_failed", actor_label=username[:64], reason="unknown_or_inactive")
        return None
    if not user.check_password(password):
        audit.record("auth.login_failed", target_type="user", target_id=user.id, actor_label=username[:64],
                     reason="bad_password")
        return None
    user.last_login_at = utcnow()
    audit.record("auth.login", target_type="user", target_id=user.id, actor=user)
    return user


def create_user(data: dict, *, actor: User | None) -> User:
    from eldercare.providers.models import EmergencyTeam, Provider

    if db.session.scalar(sa.select(User.id).where(User.username == data["username"])) is not None:
        raise ApiError(409, "conflict", "Username already taken.", {"username": ["Already taken."]})
    if data.get("provider_id") is not None and db.session.get(Provider, data["provider_id"]) is None:
        raise ApiError(400, "bad_request", "Invalid input.", {"provider_id": ["Unknown provider."]})
    if data.get("team_id") is not None and db.session.get(EmergencyTeam, data["team_id"]) is None:
        raise ApiError(400, "bad_request", "Invalid input.", {"team_id": ["Unknown team."]})
    user = User(
        username=data["username"], role=data["role"], display_name=data.get("display_name"),
        language=data.get("language", "zh"),
        provider_id=data.get("provider_id") if data["role"] == "provider_staff" else None,
        team_id=data.get("team_id") if data["role"] == "team_member" else None,
    )
    user.set_password(data["password"])
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", target_type="user", target_id=user.id, actor=actor, role=user.role)
    return user
