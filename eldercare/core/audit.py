"""Audit events: every login, failed login and access to a resident's record, append-only."""

from __future__ import annotations

from flask import g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from eldercare.core.models import AuditEvent, StateEvent, User
from eldercare.extensions import db


def record(action: str, *, target_type: str | None = None, target_id: int | None = None,
           actor: User | None = None, actor_label: str | None = None, **detail: object) -> AuditEvent:
    if actor is None and has_request_context():
        actor = g.get("user")
    entry = AuditEvent(
        action=action, target_type=target_type, target_id=target_id,
        actor_id=actor.id if actor is not None else None,
        actor_label=actor.username if actor is not None else actor_label,
        ip=request.remote_addr if has_request_context() else None,
        detail=detail,
    )
    db.session.add(entry)
    return entry


class AppendOnlyError(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _forbid_rewriting_history(session: Session, flush_context: object, instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent | StateEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(f"{type(obj).__name__} rows are append-only")
