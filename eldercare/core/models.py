"""Accounts, audit trail, state history and timers: the tables every domain leans on."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from eldercare.core.db import TimestampMixin, enum_column
from eldercare.core.time import utcnow
from eldercare.extensions import db

ROLES = ("admin", "supervisor", "operator", "provider_staff", "team_member")


class User(TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(
            "(role != 'provider_staff' OR provider_id IS NOT NULL)"
            " AND (role != 'team_member' OR team_id IS NOT NULL)",
            name="affiliation",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(enum_column(*ROLES, name="role"))
    display_name: Mapped[str | None] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")
    provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("providers.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("emergency_teams.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped to revoke every bearer token issued before (password change, deactivation).
    token_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]

    provider = relationship("Provider", foreign_keys=[provider_id])
    team = relationship("EmergencyTeam", foreign_keys=[team_id])

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # The token version rides in the session too, so revoking tokens also ends console sessions.
        return f"{self.id}:{self.token_version}"


class AuditEvent(db.Model):
    """Append-only: who did or saw what, when, from where. Never updated, never deleted."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_label: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(48), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(32))
    target_id: Mapped[int | None]
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class StateEvent(db.Model):
    """Append-only history of every guarded transition: the audit trail and the source of every KPI."""

    __tablename__ = "state_events"
    __table_args__ = (sa.Index("ix_state_events_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    entity_type: Mapped[str] = mapped_column(sa.String(24))
    entity_id: Mapped[int]
    from_state: Mapped[str | None] = mapped_column(sa.String(24))
    to_state: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.String(255))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class Timer(db.Model):
    """A timer that matters, as data: fired by a periodic sweep, brought forward by a countdown task.

    `(kind, ref_id)` is unique so re-arming moves the one timer rather than adding a second; a fired timer
    keeps its row (fired_at set) as a record of when it fired.
    """

    __tablename__ = "timers"
    __table_args__ = (
        sa.UniqueConstraint("kind", "ref_id"),
        sa.Index("ix_timers_pending_due", "due_at", postgresql_where=sa.text("fired_at IS NULL"),
                 sqlite_where=sa.text("fired_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(48))
    ref_id: Mapped[int]
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
