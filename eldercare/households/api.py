"""`/api/v1/households`, `/api/v1/households/<id>`, `/api/v1/residents`.

Resident data is for the call centre only, and every read of it leaves an audit event naming the
records shown.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from eldercare.core import audit
from eldercare.core.auth import OPS, roles
from eldercare.core.errors import not_found
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.extensions import db
from eldercare.households.models import Contact, Household, Resident
from eldercare.households.schemas import (
    HouseholdQuerySchema,
    HouseholdSchema,
    HouseholdSummarySchema,
    ResidentQuerySchema,
    ResidentSchema,
)

blp = ApiBlueprint("households", __name__, description="Elderly households and residents (audited)")


def search_condition(q: str) -> sa.ColumnElement[bool]:
    """The order form's search: household code, address, a resident's name, or the caller's number (the
    home's phone, a resident's or a contact's), typed with or without +86, spaces or dashes."""
    like = f"%{q}%"
    conditions = [Household.code.ilike(like), Household.address.ilike(like),
                  Household.residents.any(Resident.name.ilike(like))]
    digits = "".join(ch for ch in q if ch.isdigit())
    if len(digits) >= 4 and not any(ch.isalpha() for ch in q):
        number = f"%{digits[2:] if digits.startswith('86') and len(digits) > 11 else digits}%"

        def matches(column: sa.ColumnElement) -> sa.ColumnElement[bool]:
            return sa.func.replace(column, "-", "").like(number)  # landlines are stored as 0471-xxxxxxx

        conditions += [matches(Household.phone), Household.residents.any(matches(Resident.phone)),
                       Household.contacts.any(matches(Contact.phone))]
    return sa.or_(*conditions)


@blp.route("/households", methods=["GET"])
@roles(*OPS)
@blp.arguments(HouseholdQuerySchema, location="query")
@blp.response(200, page_schema(HouseholdSummarySchema))
@blp.doc(security=[{"bearer": []}])
def list_households(args: dict) -> dict:
    query = sa.select(Household).options(selectinload(Household.residents)).order_by(Household.id)
    if args["community_id"] is not None:
        query = query.where(Household.community_id == args["community_id"])
    if args["q"]:
        query = query.where(search_condition(args["q"]))
    page = paginate(query, args)
    audit.record("household.list", target_type="household", ids=[h.id for h in page["items"]],
                 query={k: v for k, v in args.items() if v is not None})
    db.session.commit()
    return page


@blp.route("/households/<int:household_id>", methods=["GET"])
@roles(*OPS)
@blp.response(200, HouseholdSchema)
@blp.doc(security=[{"bearer": []}])
def get_household(household_id: int) -> Household:
    household = db.session.scalar(
        sa.select(Household).where(Household.id == household_id)
        .options(selectinload(Household.residents), selectinload(Household.contacts),
                 selectinload(Household.devices))
    )
    if household is None:
        raise not_found("Household")
    audit.record("household.view", target_type="household", target_id=household.id,
                 residents=[r.id for r in household.residents])
    db.session.commit()
    return household


@blp.route("/residents", methods=["GET"])
@roles(*OPS)
@blp.arguments(ResidentQuerySchema, location="query")
@blp.response(200, page_schema(ResidentSchema))
@blp.doc(security=[{"bearer": []}])
def list_residents(args: dict) -> dict:
    query = sa.select(Resident).order_by(Resident.id)
    if args["household_id"] is not None:
        query = query.where(Resident.household_id == args["household_id"])
    page = paginate(query, args)
    audit.record("resident.list", target_type="resident", ids=[r.id for r in page["items"]])
    db.session.commit()
    return page
