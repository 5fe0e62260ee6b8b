"""Standing orders (issue 6, item 5): `/api/v1/recurring-orders`, for the call centre.

An operator sets one up for a household (meals Mon–Fri 11:30); each occurrence becomes an order at its lead
time (dispatch/recurring.py). Views validate, call the services and commit once."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from eldercare.catalog.models import ServiceType
from eldercare.core.auth import OPS, roles
from eldercare.core.errors import ApiError, not_found
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.dispatch import recurring, rules
from eldercare.dispatch.models import RecurringOrder
from eldercare.dispatch.recurring_schemas import (
    RecurrenceActionSchema,
    RecurrenceCreateSchema,
    RecurrenceQuerySchema,
    RecurrenceSchema,
)
from eldercare.extensions import db
from eldercare.households.models import Household, Resident
from eldercare.providers.models import Provider

blp = ApiBlueprint("recurring", __name__, description="Standing orders released at their lead time")

UPCOMING = 5


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", "Invalid input.", {field: [message]})


def _spec(data: dict) -> recurring.RecurrenceSpec:
    """The request's references, each checked to exist (400 with the field named otherwise)."""
    household = db.session.get(Household, data["household_id"])
    if household is None or not household.active:
        raise _invalid("household_id", "No such active household.")
    service_type = db.session.scalar(sa.select(ServiceType).where(ServiceType.code == data["service_type"],
                                                                  ServiceType.active.is_(True)))
    if service_type is None:
        raise _invalid("service_type", "Unknown service type.")
    resident_id = data["resident_id"]
    if resident_id is not None:
        resident = db.session.get(Resident, resident_id)
        if resident is None or resident.household_id != household.id:
            raise _invalid("resident_id", "No such resident in this household.")
    provider_id = data["preferred_provider_id"]
    if provider_id is not None and db.session.get(Provider, provider_id) is None:
        raise _invalid("preferred_provider_id", "No such provider.")
    return recurring.RecurrenceSpec(
        household_id=household.id, service_type_id=service_type.id, rrule=data["rrule"],
        starts_on=data["starts_on"], ends_on=data["ends_on"], lead_minutes=data["lead_minutes"],
        resident_id=resident_id, preferred_provider_id=provider_id, notes=data["notes"])


def _with_upcoming(recurrence: RecurringOrder) -> RecurringOrder:
    recurrence.upcoming = []
    if recurrence.status == "active" and recurrence.next_occurrence_at is not None:
        parsed = recurring.rule_of(recurrence)
        after = recurrence.next_occurrence_at
        recurrence.upcoming = [after, *rules.upcoming(parsed, after, recurrence.ends_on, UPCOMING - 1)]
    return recurrence


def _get(recurrence_id: int) -> RecurringOrder:
    recurrence = db.session.get(RecurringOrder, recurrence_id)
    if recurrence is None:
        raise not_found("Recurring order")
    return recurrence


@blp.route("/recurring-orders", methods=["POST"])
@roles(*OPS)
@blp.arguments(RecurrenceCreateSchema)
@blp.response(201, RecurrenceSchema)
@blp.doc(security=[{"bearer": []}])
def create_recurrence(data: dict) -> RecurringOrder:
    """Set up a standing order; its first occurrence after now is scheduled for release."""
    recurrence = recurring.create(_spec(data), actor=g.user)
    db.session.commit()
    return _with_upcoming(recurrence)


@blp.route("/recurring-orders", methods=["GET"])
@roles(*OPS)
@blp.arguments(RecurrenceQuerySchema, location="query")
@blp.response(200, page_schema(RecurrenceSchema))
@blp.doc(security=[{"bearer": []}])
def list_recurrences(args: dict) -> dict:
    """Standing orders, newest first; by household and status."""
    query = sa.select(RecurringOrder).order_by(RecurringOrder.id.desc())
    if args["household_id"] is not None:
        query = query.where(RecurringOrder.household_id == args["household_id"])
    if args["status"] is not None:
        query = query.where(RecurringOrder.status == args["status"])
    return paginate(query, args)


@blp.route("/recurring-orders/<int:recurrence_id>", methods=["GET"])
@roles(*OPS)
@blp.response(200, RecurrenceSchema)
@blp.doc(security=[{"bearer": []}])
def get_recurrence(recurrence_id: int) -> RecurringOrder:
    """One standing order with its next occurrences."""
    return _with_upcoming(_get(recurrence_id))


def _act(recurrence_id: int, action: str, data: dict) -> RecurringOrder:
    recurrence = _get(recurrence_id)
    getattr(recurring, action)(recurrence, actor=g.user, reason=data["reason"])
    db.session.commit()
    return _with_upcoming(recurrence)


@blp.route("/recurring-orders/<int:recurrence_id>/pause", methods=["POST"])
@roles(*OPS)
@blp.arguments(RecurrenceActionSchema)
@blp.response(200, RecurrenceSchema)
@blp.doc(security=[{"bearer": []}])
def pause_recurrence(data: dict, recurrence_id: int) -> RecurringOrder:
    """Stop releasing (e.g. the resident is in hospital); 409 unless active."""
    return _act(recurrence_id, "pause", data)


@blp.route("/recurring-orders/<int:recurrence_id>/resume", methods=["POST"])
@roles(*OPS)
@blp.arguments(RecurrenceActionSchema)
@blp.response(200, RecurrenceSchema)
@blp.doc(security=[{"bearer": []}])
def resume_recurrence(data: dict, recurrence_id: int) -> RecurringOrder:
    """Release again from the next occurrence after now (missed ones are not made up); 409 unless paused."""
    return _act(recurrence_id, "resume", data)


@blp.route("/recurring-orders/<int:recurrence_id>/end", methods=["POST"])
@roles(*OPS)
@blp.arguments(RecurrenceActionSchema)
@blp.response(200, RecurrenceSchema)
@blp.doc(security=[{"bearer": []}])
def end_recurrence(data: dict, recurrence_id: int) -> RecurringOrder:
    """End for good; orders already released stay with dispatch. 409 when already ended."""
    return _act(recurrence_id, "end", data)
