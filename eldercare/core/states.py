"""Guarded state transitions, decided by the database, each written as an append-only StateEvent.

`machine.transition(obj, "claimed", actor=user)` issues one compare-and-set UPDATE
(`... WHERE id = :id AND status = :seen`): of two concurrent transitions from the same state exactly one
matches a row; the other gets `TransitionConflict` (a 409 at the API edge) and changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa

from eldercare.core.errors import ApiError
from eldercare.core.models import StateEvent, User
from eldercare.core.sql import insert_rows, queued, rows_parameters
from eldercare.core.time import utcnow
from eldercare.extensions import db


class TransitionConflict(ApiError):
    def __init__(self, entity: str, entity_id: int, current: str | None, wanted: str) -> None:
        super().__init__(409, "conflict", f"{entity} {entity_id} is {current or 'gone'}; cannot become {wanted}.",
                         {"status": current})
        self.current = current


Actor = User | str  # a user, or a system label such as "system:escalation" or "device:42"


def actor_fields(actor: Actor) -> dict[str, Any]:
    if isinstance(actor, User):
        return {"actor_id": actor.id, "actor_label": actor.username}
    return {"actor_id": None, "actor_label": actor}


class StateMachine:
    def __init__(self, entity_type: str, model: type, transitions: Mapping[str, set[str]],
                 column: str = "status") -> None:
        self.entity_type, self.model, self.column = entity_type, model, column
        self.transitions = {state: frozenset(targets) for state, targets in transitions.items()}

    def can(self, current: str, wanted: str) -> bool:
        return wanted in self.transitions.get(current, ())

    def transition(self, obj: Any, wanted: str, *, actor: Actor, reason: str | None = None,
                   values: Mapping[str, Any] | None = None, data: dict | None = None,
                   only_from: Collection[str] | None = None) -> str:
        """Move `obj` to `wanted` (setting `values` in the same UPDATE); returns the state it left.

        `only_from` narrows the machine's rule for this call (e.g. a mass cancel that must never touch an
        incident claimed meanwhile, although the machine lets a holder cancel): the compare-and-set keeps it
        true at the moment of the UPDATE."""
        column = getattr(self.model, self.column)
        current = db.session.scalar(sa.select(column).where(self.model.id == obj.id))
        allowed = current is not None and self.can(current, wanted)
        if not allowed or (only_from is not None and current not in only_from):
            raise TransitionConflict(self.entity_type, obj.id, current, wanted)
        result = db.session.execute(
            sa.update(self.model)
            .where(self.model.id == obj.id, column == current)
            .values({self.column: wanted, **(values or {})})
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            latest = db.session.scalar(sa.select(column).where(self.model.id == obj.id))
            raise TransitionConflict(self.entity_type, obj.id, latest, wanted)
        db.session.add(StateEvent(entity_type=self.entity_type, entity_id=obj.id, from_state=current,
                                  to_state=wanted, reason=reason, data=data or {}, **actor_fields(actor)))
        db.session.flush()
        db.session.refresh(obj)
        return current

    def record_new(self, entity_id: int, state: str, *, actor: Actor, reason: str | None = None) -> None:
        """The birth of an entity is an event too (from_state NULL), so its history is complete."""
        db.session.add(StateEvent(entity_type=self.entity_type, entity_id=entity_id, from_state=None,
                                  to_state=state, reason=reason, **actor_fields(actor)))


    def record_new_many(self, births: list[tuple[int, Actor, str | None]], state: str) -> None:
        """`record_new` for many entities (entity id, actor, reason), in one statement."""
        if births:
            at = utcnow()
            rows = [{"entity_type": self.entity_type, "entity_id": entity_id, "from_state": None, "to_state": state,
                     "at": at, "reason": reason, "data": {}, **actor_fields(actor)}
                    for entity_id, actor, reason in births]
            db.session.connection().execute(_births_insert(db.engine.dialect.name),
                                            rows_parameters(BIRTH_COLUMNS, rows))


BIRTH_COLUMNS = ("entity_type", "entity_id", "from_state", "to_state", "at", "reason", "data", "actor_id",
                 "actor_label")


@functools.cache
def _births_insert(dialect: str) -> sa.Insert:
    return queued(insert_rows(StateEvent.__table__, BIRTH_COLUMNS))  # nobody reads its result


def history(entity_type: str, entity_id: int) -> list[StateEvent]:
    return list(db.session.scalars(
        sa.select(StateEvent).where(StateEvent.entity_type == entity_type, StateEvent.entity_id == entity_id)
        .order_by(StateEvent.id)
    ))
