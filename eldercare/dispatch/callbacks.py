"""Call-back tasks: a device's green "service" key asks the call centre to ring the household back
(issue 6, item 4). Services flush, never commit.

The device intake (eldercare.devices.services.ingest_batch) hands over a batch's presses in one call and
this writes them in ONE set-based upsert: a household with a pending task gets its `presses` counted up,
any other gets a new pending task (the partial unique index on pending tasks decides, whatever races in
other batches). Each task touched is announced as `callback.updated` after commit. An operator closes the
task `done` (with the order it led to, when there is one) or `cancelled`, once: a conditional UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from eldercare.core.errors import ApiError, conflict, not_found
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM
from eldercare.core.models import User
from eldercare.core.sql import dialect_insert
from eldercare.core.time import utcnow
from eldercare.dispatch.events import CALLBACK_UPDATED
from eldercare.dispatch.models import CallbackTask, Order
from eldercare.extensions import db


@dataclass(frozen=True, slots=True)
class Press:
    household_id: int
    device_id: int
    at: datetime


def open_for_presses(presses: list[Press]) -> None:
    """One statement for the whole batch (the alarm path must not slow down)."""
    rows: dict[int, dict] = {}
    for press in presses:  # one row per household: an upsert may not touch a row twice
        row = rows.setdefault(press.household_id, {"household_id": press.household_id, "device_id": press.device_id,
                                                   "status": "pending", "presses": 0, "created_at": press.at,
                                                   "last_pressed_at": press.at})
        row["presses"] += 1
        row["last_pressed_at"] = max(row["last_pressed_at"], press.at)
    if not rows:
        return
    table = CallbackTask.__table__
    insert = dialect_insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=["household_id"], index_where=sa.text("status = 'pending'"),
        set_={"presses": table.c.presses + insert.excluded.presses,
              "last_pressed_at": insert.excluded.last_pressed_at},
    ).returning(table.c.id, table.c.household_id, table.c.presses)
    # Sorted by household: concurrent batches take the index's row locks in the same order.
    for row in db.session.connection().execute(statement, [rows[h] for h in sorted(rows)]).all():
        CALLBACK_UPDATED.publish({"id": row.id, "status": "pending", "household_id": row.household_id,
                                  "presses": row.presses}, namespace=OPS_NAMESPACE, room=OPS_ROOM)


def get_task(task_id: int) -> CallbackTask:
    task = db.session.get(CallbackTask, task_id)
    if task is None:
        raise not_found("Call-back task")
    return task


def close(task: CallbackTask, user: User, data: dict) -> CallbackTask:
    order_id = data.get("order_id")
    if order_id is not None:
        order = db.session.get(Order, order_id)
        if order is None or order.household_id != task.household_id:
            raise ApiError(400, "bad_request", "Invalid input.", {"order_id": ["Not an order of this household."]})
    result = db.session.execute(
        sa.update(CallbackTask).where(CallbackTask.id == task.id, CallbackTask.status == "pending")
        .values(status=data["status"], notes=data.get("notes"), order_id=order_id, done_by_id=user.id,
                done_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.refresh(task)
    if result.rowcount != 1:
        raise conflict(f"Call-back task {task.id} is already {task.status}.", status=task.status)
    CALLBACK_UPDATED.publish({"id": task.id, "status": task.status, "household_id": task.household_id,
                              "presses": task.presses}, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    return task
