"""Batch planning (issue 6, item 5): `POST /api/v1/planning/runs`, supervisors and admins."""

from __future__ import annotations

from flask import g

from eldercare.core.auth import SUPERVISORS, roles
from eldercare.core.rest import ApiBlueprint
from eldercare.dispatch import planning_runs
from eldercare.dispatch.planning_schemas import PlanningResultSchema, PlanningRunSchema
from eldercare.extensions import db

blp = ApiBlueprint("planning", __name__, description="Batch planning of a day's scheduled orders")


def _body(result: planning_runs.PlanRun) -> dict:
    plan, baseline = result.plan, result.baseline
    return {
        "date": result.day, "applied": result.applied, "orders": result.orders, "method": plan.method,
        "assignments": [{"order_id": oid, "provider_id": pid, "cost": round(plan.costs[oid], 3)}
                        for oid, pid in sorted(plan.assignments.items())],
        "unassigned": [{"order_id": oid, "reason": reason} for oid, reason in sorted(plan.unassigned.items())],
        "total_cost": round(plan.total_cost, 3),
        "greedy": {"total_cost": round(baseline.total_cost, 3), "assigned": len(baseline.assignments),
                   "unassigned": len(baseline.unassigned), "solve_ms": round(baseline.seconds * 1000, 3)},
        "cost_ratio": round(plan.total_cost / baseline.total_cost, 4) if baseline.total_cost else None,
        "skipped": result.skipped,
        "prepare_ms": round(result.prepare_seconds * 1000, 3), "solve_ms": round(plan.seconds * 1000, 3),
    }


@blp.route("/planning/runs", methods=["POST"])
@roles(*SUPERVISORS)
@blp.arguments(PlanningRunSchema)
@blp.response(200, PlanningResultSchema)
@blp.doc(security=[{"bearer": []}])
def create_run(data: dict) -> dict:
    """Plan a day's scheduled orders as a minimum-cost assignment within providers' daily capacities (as many
    orders as capacity allows, then the cheapest), with the greedy baseline's figures beside it. With
    `apply`, each order's proposal is stored as `planned_provider_id`; its status does not change."""
    result = planning_runs.run(data["date"], apply=data["apply"], actor=g.user)
    if result.applied:
        db.session.commit()
    return _body(result)
