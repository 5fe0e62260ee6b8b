"""The supervisor view's API (issue 4, item 8): operators and their load, the unclaimed alarms, mass cancel
of false alarms, and the review list of alarms answered after 3 minutes. Supervisors and admins only."""

from __future__ import annotations

from flask import g

from eldercare.alerts import mass_cancel, oversight
from eldercare.alerts.supervisor_schemas import (
    MassCancelResultSchema,
    MassCancelSchema,
    OperatorLoadListSchema,
    ReviewCreateSchema,
    ReviewItemSchema,
    ReviewQuerySchema,
    UnclaimedIncidentSchema,
    UnclaimedQuerySchema,
)
from eldercare.core.auth import SUPERVISORS, roles
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.extensions import db

blp = ApiBlueprint("supervisor", __name__, description="Supervisor view: load, mass cancel, review")

FILTERS = ("community_id", "priorities", "created_from", "created_to")


@blp.route("/supervisor/operators", methods=["GET"])
@roles(*SUPERVISORS)
@blp.response(200, OperatorLoadListSchema)
@blp.doc(security=[{"bearer": []}])
def operators() -> dict:
    """Every active call-centre user: connected to the /ops console now or not, how many open incidents
    each holds and since when the oldest."""
    return {"items": oversight.operator_load()}


@blp.route("/supervisor/unclaimed", methods=["GET"])
@roles(*SUPERVISORS)
@blp.arguments(UnclaimedQuerySchema, location="query")
@blp.response(200, page_schema(UnclaimedIncidentSchema))
@blp.doc(security=[{"bearer": []}])
def unclaimed(args: dict) -> dict:
    """Unclaimed alarms (new, escalated), oldest first; by community, priority classes, time window."""
    return paginate(oversight.unclaimed_query(**{key: args[key] for key in FILTERS}), args)


@blp.route("/incidents/mass-cancel", methods=["POST"])
@roles(*SUPERVISORS)
@blp.arguments(MassCancelSchema)
@blp.response(200, MassCancelResultSchema)
@blp.doc(security=[{"bearer": []}])
def cancel_many(data: dict) -> mass_cancel.MassCancelResult:
    """Cancel unclaimed alarms as false alarms with one reason: the listed `incident_ids`, or every
    unclaimed alarm a `filter` matches. An incident claimed (or closed) meanwhile is not touched and comes
    back under `skipped` with its state now."""
    ids = data["incident_ids"] if data["incident_ids"] is not None else mass_cancel.select_ids(data["filter"])
    result = mass_cancel.cancel_many(ids, g.user, data["reason"])
    db.session.commit()
    return result


@blp.route("/incidents/reviews", methods=["GET"])
@roles(*SUPERVISORS)
@blp.arguments(ReviewQuerySchema, location="query")
@blp.response(200, page_schema(ReviewItemSchema))
@blp.doc(security=[{"bearer": []}])
def reviews(args: dict) -> dict:
    """Alarms flagged for review (answered after 3 minutes, or not at all), newest first."""
    page = paginate(oversight.review_query(args["state"]), args)
    return {**page, "items": oversight.review_items(list(page["items"]))}


@blp.route("/incidents/<int:incident_id>/review", methods=["POST"])
@roles(*SUPERVISORS)
@blp.arguments(ReviewCreateSchema)
@blp.response(200, ReviewItemSchema)
@blp.doc(security=[{"bearer": []}])
def review(data: dict, incident_id: int) -> oversight.ReviewItem:
    """Mark a flagged alarm reviewed (once), with an optional note; recorded in its history."""
    item = oversight.mark_reviewed(incident_id, g.user, data["note"])
    db.session.commit()
    return item
