"""`/api/v1/callback-tasks`: the call-backs asked for by a device's green "service" key, for the call centre
(eldercare.dispatch.callbacks). Showing them shows whom to call: each list is an audit event."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import selectinload

from eldercare.core import audit
from eldercare.core.auth import OPS, roles
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.dispatch import callbacks
from eldercare.dispatch.models import CallbackTask
from eldercare.dispatch.schemas import CallbackCloseSchema, CallbackQuerySchema, CallbackTaskSchema
from eldercare.extensions import db
from eldercare.households.models import Household

blp = ApiBlueprint("callbacks", __name__, description="Call-back tasks from a device's green service key")
BEARER = [{"bearer": []}]


@blp.route("/callback-tasks", methods=["GET"])
@roles(*OPS)
@blp.arguments(CallbackQuerySchema, location="query")
@blp.response(200, page_schema(CallbackTaskSchema))
@blp.doc(security=BEARER)
def list_callbacks(args: dict) -> dict:
    """Pending ones oldest first (the order to call back in); closed ones newest first."""
    order = CallbackTask.id if args["status"] == "pending" else CallbackTask.id.desc()
    query = (sa.select(CallbackTask).where(CallbackTask.status == args["status"])
             .options(selectinload(CallbackTask.household).selectinload(Household.residents)).order_by(order))
    page = paginate(query, args)
    audit.record("callback.list", target_type="household", ids=[t.household_id for t in page["items"]])
    db.session.commit()
    return page


@blp.route("/callback-tasks/<int:task_id>", methods=["POST"])
@roles(*OPS)
@blp.arguments(CallbackCloseSchema)
@blp.response(200, CallbackTaskSchema)
@blp.alt_response(409, description="Already closed")
@blp.doc(security=BEARER)
def close_callback(data: dict, task_id: int) -> CallbackTask:
    """The call is made: `done` (with the order it led to, if any) or `cancelled`; once (409 after)."""
    task = callbacks.close(callbacks.get_task(task_id), g.user, data)
    db.session.commit()
    return task
