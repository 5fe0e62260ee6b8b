"""Request and response schemas of `POST /api/v1/planning/runs`."""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.schemas import Strict


class PlanningRunSchema(Strict):
    date = ma.fields.Date(required=True, metadata={"description": "The local day (Asia/Shanghai) to plan."})
    apply = ma.fields.Boolean(load_default=False, truthy={True}, falsy={False}, metadata={
        "description": "Store each proposal as the order's planned_provider_id (status unchanged)."})


class AssignmentSchema(ma.Schema):
    order_id = ma.fields.Integer()
    provider_id = ma.fields.Integer()
    cost = ma.fields.Float(metadata={"description": "Minutes: travel estimate plus rating/fairness penalties."})


class UnassignedSchema(ma.Schema):
    order_id = ma.fields.Integer()
    reason = ma.fields.String(metadata={"description": "no_eligible_provider or no_capacity_left."})


class BaselineSchema(ma.Schema):
    total_cost = ma.fields.Float()
    assigned = ma.fields.Integer()
    unassigned = ma.fields.Integer()
    solve_ms = ma.fields.Float()


class PlanningResultSchema(ma.Schema):
    date = ma.fields.Date()
    applied = ma.fields.Boolean()
    orders = ma.fields.Integer()
    method = ma.fields.String()
    assignments = ma.fields.List(ma.fields.Nested(AssignmentSchema))
    unassigned = ma.fields.List(ma.fields.Nested(UnassignedSchema))
    total_cost = ma.fields.Float()
    greedy = ma.fields.Nested(BaselineSchema)
    cost_ratio = ma.fields.Float(allow_none=True, metadata={
        "description": "total_cost / greedy total_cost (null when greedy assigns nothing)."})
    skipped = ma.fields.List(ma.fields.Integer(), metadata={
        "description": "Orders taken by dispatch meanwhile, so not given a proposal."})
    prepare_ms = ma.fields.Float()
    solve_ms = ma.fields.Float()
