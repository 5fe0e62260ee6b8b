"""Request and response schemas of the dispatch API (orders, offers, jobs, follow-ups, scorecards)."""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.rest import PageArgsSchema
from eldercare.core.schemas import Strict
from eldercare.core.time import isoformat
from eldercare.dispatch.models import DISPATCH_MODES, OFFER_STATUSES, ORDER_STATUSES

_reason = ma.validate.Length(min=1, max=200)
_id = ma.validate.Range(min=1, max=2**31 - 1)


# --- requests ----------------------------------------------------------------------------------------

class OrderCreateSchema(Strict):
    household_id = ma.fields.Integer(required=True, validate=_id)
    service_type = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32),
                                    metadata={"description": "Service type code, e.g. `care.home_visit`."})
    scheduled_for = ma.fields.AwareDateTime(load_default=None, allow_none=True,
                                            metadata={"description": "RFC 3339; omitted = as soon as possible."})
    notes = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))
    dispatch_mode = ma.fields.String(load_default="sequential", validate=ma.validate.OneOf(DISPATCH_MODES),
                                     metadata={"description": "sequential (best first) or broadcast (top K)."})


class OrderQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ORDER_STATUSES))
    household_id = ma.fields.Integer(load_default=None, validate=_id)
    provider_id = ma.fields.Integer(load_default=None, validate=_id)
    escalated = ma.fields.Boolean(load_default=None, metadata={"description": "true = the supervisors' queue."})


class AssignSchema(Strict):
    provider_id = ma.fields.Integer(required=True, validate=_id)


class RematchSchema(Strict):
    widen = ma.fields.Boolean(load_default=False,
                              metadata={"description": "Let in every company of the household's district."})


class ReasonSchema(Strict):
    reason = ma.fields.String(required=True, validate=_reason)


class OfferQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(OFFER_STATUSES))
    order_id = ma.fields.Integer(load_default=None, validate=_id)
    provider_id = ma.fields.Integer(load_default=None, validate=_id)


class JobQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ORDER_STATUSES))
    finished = ma.fields.Boolean(load_default=None, metadata={
        "description": "true = the finished jobs (history), false = the jobs in hand."})


class WorkerSchema(Strict):
    worker_id = ma.fields.Integer(required=True, validate=_id)


class CompleteSchema(Strict):
    duration_minutes = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=24 * 60))
    notes = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))
    price = ma.fields.Decimal(load_default=None, allow_none=True, places=2,
                              validate=ma.validate.Range(min=0, max=100000))


class FollowUpQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default="pending", validate=ma.validate.OneOf(("pending", "done", "unreachable")))


class FollowUpRecordSchema(Strict):
    status = ma.fields.String(load_default="done", validate=ma.validate.OneOf(("done", "unreachable")))
    rating = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=5))
    complaint = ma.fields.Boolean(load_default=False)
    notes = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))


# --- responses ---------------------------------------------------------------------------------------

class OfferSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    provider_id = ma.fields.Integer()
    provider_name_zh = ma.fields.Function(lambda o: o.provider.name_zh)
    status = ma.fields.String()
    rank = ma.fields.Integer(allow_none=True)
    score = ma.fields.Float(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()
    responded_at = ma.fields.AwareDateTime(allow_none=True)
    decline_reason = ma.fields.String(allow_none=True)
    extended = ma.fields.Boolean()
    explanation = ma.fields.Dict(allow_none=True, metadata={"description": "Why ranked here: score components."})


class HistorySchema(ma.Schema):
    from_state = ma.fields.String(allow_none=True)
    to_state = ma.fields.String()
    at = ma.fields.AwareDateTime()
    actor_label = ma.fields.String()
    reason = ma.fields.String(allow_none=True)


class OrderSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    household_id = ma.fields.Integer()
    resident_id = ma.fields.Integer(allow_none=True)
    service_type = ma.fields.Function(lambda o: o.service_type.code)
    service_name_zh = ma.fields.Function(lambda o: o.service_type.name_zh)
    service_name_en = ma.fields.Function(lambda o: o.service_type.name_en)
    source = ma.fields.String()
    dispatch_mode = ma.fields.String()
    widened = ma.fields.Boolean()
    scheduled_for = ma.fields.AwareDateTime(allow_none=True)
    sla_due_at = ma.fields.AwareDateTime(allow_none=True)
    provider_id = ma.fields.Integer(allow_none=True)
    worker_id = ma.fields.Integer(allow_none=True)
    offer_attempts = ma.fields.Integer()
    escalated = ma.fields.Function(lambda o: o.status == "escalated")
    escalation_reason = ma.fields.String(allow_none=True)
    price = ma.fields.Decimal(as_string=True, allow_none=True)
    subsidy_amount = ma.fields.Decimal(as_string=True, allow_none=True)
    resident_pays = ma.fields.Function(
        lambda o: str(max(o.price - (o.subsidy_amount or 0), 0)) if o.price is not None else None)
    notes = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    accepted_at = ma.fields.AwareDateTime(allow_none=True)
    en_route_at = ma.fields.AwareDateTime(allow_none=True)
    started_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    duration_minutes = ma.fields.Integer(allow_none=True)
    completion_notes = ma.fields.String(allow_none=True)


class OrderSchema(OrderSummarySchema):
    offers = ma.fields.List(ma.fields.Nested(OfferSchema))
    history = ma.fields.Method("_history")

    def _history(self, order: object) -> list[dict]:
        from eldercare.core.states import history

        return HistorySchema(many=True).dump(history("order", order.id))


class OrderCreatedSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    provider_id = ma.fields.Integer(allow_none=True)
    escalation_reason = ma.fields.String(allow_none=True)
    offers = ma.fields.List(ma.fields.Nested(OfferSchema))


class CandidateSchema(ma.Schema):
    provider_id = ma.fields.Integer()
    name_zh = ma.fields.String()
    rank = ma.fields.Integer()
    score = ma.fields.Float()
    eta_minutes = ma.fields.Float()
    components = ma.fields.Dict()
    weights = ma.fields.Dict()


class RejectedSchema(ma.Schema):
    provider_id = ma.fields.Integer()
    name_zh = ma.fields.String(allow_none=True)
    rule = ma.fields.String(metadata={"description": "offers_type, covers, active, open or capacity"})


class CandidatesSchema(ma.Schema):
    eligible = ma.fields.List(ma.fields.Nested(CandidateSchema))
    rejected = ma.fields.List(ma.fields.Nested(RejectedSchema))


class ProviderOfferSchema(ma.Schema):
    """What a company sees of an offer: the service and the community, nothing of the resident."""

    id = ma.fields.Integer()
    status = ma.fields.String()
    order_id = ma.fields.Integer()
    order_status = ma.fields.Function(lambda o: o.order.status)
    service_type = ma.fields.Function(lambda o: o.order.service_type.code)
    service_name_zh = ma.fields.Function(lambda o: o.order.service_type.name_zh)
    service_name_en = ma.fields.Function(lambda o: o.order.service_type.name_en)
    community = ma.fields.Function(lambda o: o.order.household.community.name_zh)
    scheduled_for = ma.fields.Function(lambda o: isoformat(o.order.scheduled_for))
    price = ma.fields.Function(lambda o: str(o.order.price) if o.order.price is not None else None)
    expires_at = ma.fields.AwareDateTime()
    extended = ma.fields.Boolean()
    rank = ma.fields.Integer(allow_none=True)


class OfferListItemSchema(OfferSchema, ProviderOfferSchema):
    """An offer in a list: its ranking and what the company is told (no resident data)."""


class ResidentContactSchema(ma.Schema):
    name = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    address = ma.fields.String()
    lat = ma.fields.Float()
    lng = ma.fields.Float()
    access_info = ma.fields.String(allow_none=True)


class JobSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    service_type = ma.fields.Function(lambda o: o.service_type.code)
    service_name_zh = ma.fields.Function(lambda o: o.service_type.name_zh)
    service_name_en = ma.fields.Function(lambda o: o.service_type.name_en)
    community = ma.fields.Function(lambda o: o.household.community.name_zh)
    scheduled_for = ma.fields.AwareDateTime(allow_none=True)
    sla_due_at = ma.fields.AwareDateTime(allow_none=True)
    worker_id = ma.fields.Integer(allow_none=True)
    worker_name = ma.fields.Function(lambda o: o.worker.name if o.worker is not None else None)
    notes = ma.fields.String(allow_none=True)
    price = ma.fields.Decimal(as_string=True, allow_none=True)
    subsidy_amount = ma.fields.Decimal(as_string=True, allow_none=True)
    accepted_at = ma.fields.AwareDateTime(allow_none=True)
    en_route_at = ma.fields.AwareDateTime(allow_none=True)
    started_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    duration_minutes = ma.fields.Integer(allow_none=True)
    completion_notes = ma.fields.String(allow_none=True)
    # Set by the job view (eldercare.dispatch.jobs.resident_view) only while the job is in hand; lists carry null.
    resident = ma.fields.Function(
        lambda o: ResidentContactSchema().dump(o.resident_contact) if getattr(o, "resident_contact", None) else None,
        metadata={"description": "name, phone, address, lat, lng, access_info: only from acceptance to the end "
                                 "of the job, else null."})


class FollowUpSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    due_at = ma.fields.AwareDateTime()
    status = ma.fields.String()
    rating = ma.fields.Integer(allow_none=True)
    complaint = ma.fields.Boolean()
    notes = ma.fields.String(allow_none=True)
    operator_id = ma.fields.Integer(allow_none=True)
    done_at = ma.fields.AwareDateTime(allow_none=True)
    # What the operator needs on the call-back list (the household is opened through /households/<id>).
    household_id = ma.fields.Function(lambda f: f.order.household_id)
    provider_id = ma.fields.Function(lambda f: f.order.provider_id)
    provider_name_zh = ma.fields.Function(lambda f: f.order.provider.name_zh if f.order.provider else None)
    service_name_zh = ma.fields.Function(lambda f: f.order.service_type.name_zh)
    service_name_en = ma.fields.Function(lambda f: f.order.service_type.name_en)
    completed_at = ma.fields.Function(lambda f: isoformat(f.order.completed_at))


class ScorecardSchema(ma.Schema):
    provider_id = ma.fields.Integer()
    name_zh = ma.fields.String()
    status = ma.fields.String()
    offers = ma.fields.Dict()
    acceptance_rate = ma.fields.Float(allow_none=True)
    acceptance_score = ma.fields.Float()
    jobs_arrived = ma.fields.Integer()
    on_time_rate = ma.fields.Float(allow_none=True)
    ratings = ma.fields.Integer()
    rating_mean = ma.fields.Float(allow_none=True)
    rating_bayesian = ma.fields.Float()
    rating_prior = ma.fields.Float()
    complaints = ma.fields.Integer()
    window_days = ma.fields.Integer()


# --- call-back tasks (a device's green "service" key) ------------------------------------------------

class CallbackQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default="pending", validate=ma.validate.OneOf(("pending", "done", "cancelled")))


class CallbackCloseSchema(Strict):
    status = ma.fields.String(load_default="done", validate=ma.validate.OneOf(("done", "cancelled")))
    order_id = ma.fields.Integer(load_default=None, allow_none=True, validate=_id,
                                 metadata={"description": "The order the call led to (of the same household)."})
    notes = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))


class CallbackHouseholdSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    address = ma.fields.String()
    phone = ma.fields.String(allow_none=True)
    residents = ma.fields.Function(lambda h: [r.name for r in h.residents if r.active])


class CallbackTaskSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String()
    household_id = ma.fields.Integer()
    household = ma.fields.Nested(CallbackHouseholdSchema, metadata={"description": "Whom to call (audited)."})
    device_id = ma.fields.Integer(allow_none=True)
    presses = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    last_pressed_at = ma.fields.AwareDateTime()
    done_at = ma.fields.AwareDateTime(allow_none=True)
    done_by_id = ma.fields.Integer(allow_none=True)
    order_id = ma.fields.Integer(allow_none=True)
    notes = ma.fields.String(allow_none=True)
