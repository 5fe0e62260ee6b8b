"""`/api/v1/providers/<id>` (one company and its workers) and its profile change requests, which the company
proposes and the centre approves or rejects (eldercare.providers.changes)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from eldercare.core.auth import OPS, STAFF, SUPERVISORS, roles
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.extensions import db
from eldercare.providers import changes
from eldercare.providers.models import Provider, ProviderChangeRequest, ProviderWorker
from eldercare.providers.schemas import (
    ChangeRequestCreateSchema,
    ChangeRequestQuerySchema,
    ChangeRequestSchema,
    ProviderDetailSchema,
    ProviderWorkerSchema,
    ReviewSchema,
)

blp = ApiBlueprint("provider_changes", __name__, description="Provider profiles and their change requests")
BEARER = [{"bearer": []}]
CHANGE_PAGE = page_schema(ChangeRequestSchema)


@blp.route("/providers/<int:provider_id>", methods=["GET"])
@roles(*STAFF)
@blp.response(200, ProviderDetailSchema)
@blp.doc(security=BEARER)
def get_provider(provider_id: int) -> Provider:
    """Coverage, service types, hours and capacity as matching uses them now."""
    return changes.get_provider(provider_id)


@blp.route("/providers/<int:provider_id>/workers", methods=["GET"])
@roles(*OPS, "provider_staff")
@blp.response(200, ProviderWorkerSchema(many=True))
@blp.doc(security=BEARER)
def list_workers(provider_id: int) -> list[ProviderWorker]:
    """The company's active workers (whom a job can be given to). Provider staff: their own company only."""
    changes.require_own_company(g.user, provider_id)
    changes.get_provider(provider_id)
    return list(db.session.scalars(sa.select(ProviderWorker).where(
        ProviderWorker.provider_id == provider_id, ProviderWorker.active.is_(True)).order_by(ProviderWorker.id)))


@blp.route("/providers/<int:provider_id>/change-requests", methods=["GET"])
@roles(*SUPERVISORS, "provider_staff")
@blp.arguments(ChangeRequestQuerySchema, location="query")
@blp.response(200, CHANGE_PAGE)
@blp.doc(security=BEARER)
def list_company_requests(args: dict, provider_id: int) -> dict:
    """The company's change requests, newest first. Provider staff: their own company only."""
    changes.require_own_company(g.user, provider_id)
    query = sa.select(ProviderChangeRequest).where(ProviderChangeRequest.provider_id == provider_id)
    if args["status"] is not None:
        query = query.where(ProviderChangeRequest.status == args["status"])
    return paginate(query.order_by(ProviderChangeRequest.id.desc()), args)


@blp.route("/providers/<int:provider_id>/change-requests", methods=["POST"])
@roles("provider_staff")
@blp.arguments(ChangeRequestCreateSchema)
@blp.response(201, ChangeRequestSchema)
@blp.alt_response(400, description="Invalid input (field errors), or nothing to change")
@blp.alt_response(403, description="Another company")
@blp.doc(security=BEARER)
def submit_request(data: dict, provider_id: int) -> ProviderChangeRequest:
    """Propose new coverage, service types, hours or capacity; nothing changes until the centre approves."""
    changes.require_own_company(g.user, provider_id)
    note = data.pop("note")
    change = changes.submit(changes.get_provider(provider_id), g.user, data, note)
    db.session.commit()
    return change


@blp.route("/provider-change-requests", methods=["GET"])
@roles(*SUPERVISORS)
@blp.arguments(ChangeRequestQuerySchema, location="query")
@blp.response(200, CHANGE_PAGE)
@blp.doc(security=BEARER)
def list_requests(args: dict) -> dict:
    """Every company's requests (`?status=pending`: what waits for a decision, oldest first)."""
    query = sa.select(ProviderChangeRequest)
    if args["status"] is not None:
        query = query.where(ProviderChangeRequest.status == args["status"])
    order = ProviderChangeRequest.id if args["status"] == "pending" else ProviderChangeRequest.id.desc()
    return paginate(query.order_by(order), args)


@blp.route("/provider-change-requests/<int:request_id>/approve", methods=["POST"])
@roles(*SUPERVISORS)
@blp.arguments(ReviewSchema)
@blp.response(200, ChangeRequestSchema)
@blp.alt_response(409, description="Already decided")
@blp.doc(security=BEARER)
def approve_request(data: dict, request_id: int) -> ProviderChangeRequest:
    """Apply the request to the company (matching uses it from now on)."""
    change = changes.approve(changes.get_request(request_id), g.user, data["note"])
    db.session.commit()
    return change


@blp.route("/provider-change-requests/<int:request_id>/reject", methods=["POST"])
@roles(*SUPERVISORS)
@blp.arguments(ReviewSchema)
@blp.response(200, ChangeRequestSchema)
@blp.alt_response(409, description="Already decided")
@blp.doc(security=BEARER)
def reject_request(data: dict, request_id: int) -> ProviderChangeRequest:
    change = changes.reject(changes.get_request(request_id), g.user, data["note"])
    db.session.commit()
    return change
