"""`/api/v1/jobs` (a company's accepted orders and their progress), `/api/v1/follow-ups` (the call-back
list) and `/api/v1/providers/<id>/scorecard` (eldercare.dispatch.jobs, eldercare.dispatch.followups)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from eldercare.core.auth import OPS, roles
from eldercare.core.errors import ApiError
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.dispatch import followups, jobs
from eldercare.dispatch.models import FollowUp, Order
from eldercare.dispatch.schemas import (
    CompleteSchema,
    FollowUpQuerySchema,
    FollowUpRecordSchema,
    FollowUpSchema,
    JobQuerySchema,
    JobSchema,
    ReasonSchema,
    ScorecardSchema,
    WorkerSchema,
)
from eldercare.extensions import db

blp = ApiBlueprint("jobs", __name__, description="Provider jobs, follow-up calls and provider scorecards")
BEARER = [{"bearer": []}]


def _job_body(order: Order) -> Order:
    """The job as its company may see it: the resident's contact only while the job is in hand (audited)."""
    order.resident_contact = jobs.resident_view(order, g.user)  # read by JobSchema, never stored
    return order


@blp.route("/jobs", methods=["GET"])
@roles("provider_staff")
@blp.arguments(JobQuerySchema, location="query")
@blp.response(200, page_schema(JobSchema))
@blp.doc(security=BEARER)
def list_jobs(args: dict) -> dict:
    """The company's jobs, newest first (without the resident's contact: open one job for it); `finished`
    splits the history from the jobs in hand."""
    return paginate(jobs.company_jobs(g.user, args["status"], args["finished"]), args)


@blp.route("/jobs/<int:order_id>", methods=["GET"])
@roles("provider_staff")
@blp.response(200, JobSchema)
@blp.doc(security=BEARER)
def get_job(order_id: int) -> Order:
    body = _job_body(jobs.get_job(order_id, g.user))
    db.session.commit()  # the audit event of the resident data shown
    return body


def _step(order_id: int, fn, **kwargs: object) -> Order:  # noqa: ANN001 - a jobs.* service
    order = fn(jobs.get_job(order_id, g.user), g.user, **kwargs)
    body = _job_body(order)
    db.session.commit()
    return body


@blp.route("/jobs/<int:order_id>/worker", methods=["POST"])
@roles("provider_staff")
@blp.arguments(WorkerSchema)
@blp.response(200, JobSchema)
@blp.doc(security=BEARER)
def assign_worker(data: dict, order_id: int) -> Order:
    """Name the company's worker who goes (accepted → assigned; or another worker takes over)."""
    return _step(order_id, jobs.assign_worker, worker_id=data["worker_id"])


@blp.route("/jobs/<int:order_id>/en-route", methods=["POST"])
@roles("provider_staff")
@blp.response(200, JobSchema)
@blp.doc(security=BEARER)
def en_route(order_id: int) -> Order:
    return _step(order_id, jobs.en_route)


@blp.route("/jobs/<int:order_id>/arrived", methods=["POST"])
@roles("provider_staff")
@blp.response(200, JobSchema)
@blp.doc(security=BEARER)
def arrived(order_id: int) -> Order:
    """The worker is at the home: the service starts (`in_service`; the on-time rate counts this moment)."""
    return _step(order_id, jobs.arrived)


@blp.route("/jobs/<int:order_id>/complete", methods=["POST"])
@roles("provider_staff")
@blp.arguments(CompleteSchema)
@blp.response(200, JobSchema)
@blp.doc(security=BEARER)
def complete(data: dict, order_id: int) -> Order:
    """Done: notes, duration, final price; a follow-up call goes on the operators' list."""
    return _step(order_id, jobs.complete, notes=data["notes"], duration_minutes=data["duration_minutes"],
                 price=data["price"])


@blp.route("/jobs/<int:order_id>/cannot-complete", methods=["POST"])
@roles("provider_staff")
@blp.arguments(ReasonSchema)
@blp.response(200, JobSchema)
@blp.doc(security=BEARER)
def cannot_complete(data: dict, order_id: int) -> Order:
    return _step(order_id, jobs.cannot_complete, reason=data["reason"])


# --- follow-ups and scorecards -----------------------------------------------------------------------

@blp.route("/follow-ups", methods=["GET"])
@roles(*OPS)
@blp.arguments(FollowUpQuerySchema, location="query")
@blp.response(200, page_schema(FollowUpSchema))
@blp.doc(security=BEARER)
def list_follow_ups(args: dict) -> dict:
    """The operators' call-back list: pending ones by due time."""
    return paginate(sa.select(FollowUp).where(FollowUp.status == args["status"])
                    .order_by(FollowUp.due_at, FollowUp.id), args)


@blp.route("/follow-ups/<int:follow_up_id>", methods=["POST"])
@roles(*OPS)
@blp.arguments(FollowUpRecordSchema)
@blp.response(200, FollowUpSchema)
@blp.alt_response(409, description="Already recorded")
@blp.doc(security=BEARER)
def record_follow_up(data: dict, follow_up_id: int) -> FollowUp:
    """The call's result: `done` with a rating 1–5 (the order becomes verified), or `unreachable`."""
    follow_up = followups.record(followups.get_follow_up(follow_up_id), g.user, data)
    db.session.commit()
    return follow_up


@blp.route("/providers/<int:provider_id>/scorecard", methods=["GET"])
@roles(*OPS, "provider_staff")
@blp.response(200, ScorecardSchema)
@blp.doc(security=BEARER)
def scorecard(provider_id: int) -> dict:
    """Acceptance rate, on-time rate, rating and complaints (the figures the ranking uses). Provider staff
    see their own company's only."""
    if g.user.role == "provider_staff" and g.user.provider_id != provider_id:
        raise ApiError(403, "forbidden", "Provider staff see their own company's scorecard only.")
    return followups.scorecard(provider_id)
