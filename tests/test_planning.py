"""Batch planning (dispatch/planning.py, planning_runs.py, planning_api.py): the min-cost plan against brute
force and the greedy baseline on random instances, capacities, eligibility, a hand-made instance where greedy
loses, and the API (apply, bad input)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from eldercare.dispatch import planning
from eldercare.dispatch.models import Order
from eldercare.dispatch.planning import Instance, PlanOrder, PlanProvider
from eldercare.providers.models import Provider
from tests.helpers import error_of

ROUND_THE_CLOCK = {day: (time(0, 0), time(23, 59)) for day in range(7)}
AT = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # Tuesday 10:00 local


def order(oid: int, *, service: int = 1, community: int = 1, at: datetime = AT) -> PlanOrder:
    return PlanOrder(id=oid, service_type_id=service, community_id=community, location=(40.84, 111.75),
                     urban=True, at=at)


def provider(pid: int, capacity: int, **overrides) -> PlanProvider:
    values = {"service_type_ids": frozenset({1}), "community_ids": frozenset({1}), "hours": ROUND_THE_CLOCK,
              "location": (40.84, 111.75), "urban": True, **overrides}
    return PlanProvider(id=pid, capacity=capacity, **values)


def table_cost(table: dict[tuple[int, int], float]):
    return lambda o, p: table.get((o.id, p.id))


# --- random instances ---------------------------------------------------------------------------------

@st.composite
def instances(draw, max_orders: int = 7, max_providers: int = 3) -> Instance:
    n = draw(st.integers(1, max_orders))
    m = draw(st.integers(1, max_providers))
    capacity = {pid: draw(st.integers(0, 3)) for pid in range(1, m + 1)}
    options = {}
    for oid in range(1, n + 1):
        costs = draw(st.lists(st.one_of(st.none(), st.floats(0, 120, allow_nan=False)), min_size=m, max_size=m))
        options[oid] = sorted((c, pid) for pid, c in zip(capacity, costs, strict=True) if c is not None)
    orders = [order(oid, at=AT + timedelta(minutes=draw(st.integers(0, 600)))) for oid in range(1, n + 1)]
    return Instance(orders=sorted(orders, key=lambda o: (o.at, o.id)), capacity=capacity, options=options)


def feasible(instance: Instance, plan: planning.Plan) -> None:
    used: dict[int, int] = {}
    for oid, pid in plan.assignments.items():
        assert pid in {p for _, p in instance.options[oid]}, "an ineligible pair was assigned"
        assert plan.costs[oid] == {p: c for c, p in instance.options[oid]}[pid]
        used[pid] = used.get(pid, 0) + 1
    for pid, count in used.items():
        assert count <= instance.capacity[pid], "capacity exceeded"
    assert set(plan.assignments) | set(plan.unassigned) == set(instance.options)
    assert not set(plan.assignments) & set(plan.unassigned)


def brute_force(instance: Instance) -> tuple[int, float]:
    """(most orders placed, least cost among those) over every assignment."""
    best = (0, 0.0)
    choices = [[None, *(p for _, p in instance.options[o.id])] for o in instance.orders]
    for combo in itertools.product(*choices):
        used = [pid for pid in combo if pid is not None]
        if any(used.count(pid) > instance.capacity[pid] for pid in set(used)):
            continue
        cost = sum({p: c for c, p in instance.options[o.id]}[pid]
                   for o, pid in zip(instance.orders, combo, strict=True) if pid is not None)
        if (len(used), -cost) > (best[0], -best[1]):
            best = (len(used), cost)
    return best


@settings(max_examples=150, deadline=None)
@given(instances())
def test_min_cost_is_optimal_feasible_and_never_worse_than_greedy(instance):
    plan, baseline = planning.min_cost(instance), planning.greedy(instance)
    feasible(instance, plan)
    feasible(instance, baseline)
    placed, cost = brute_force(instance)
    assert len(plan.assignments) == placed
    assert plan.total_cost == pytest.approx(cost, abs=0.01)  # costs are scaled to 1/1000 minute
    assert len(plan.assignments) >= len(baseline.assignments)
    if len(plan.assignments) == len(baseline.assignments):
        assert plan.total_cost <= baseline.total_cost + 0.01


@settings(max_examples=30, deadline=None)
@given(instances(max_orders=60, max_providers=12))
def test_larger_random_instances_respect_capacity_and_beat_greedy(instance):
    plan, baseline = planning.min_cost(instance), planning.greedy(instance)
    feasible(instance, plan)
    assert len(plan.assignments) >= len(baseline.assignments)
    if len(plan.assignments) == len(baseline.assignments):
        assert plan.total_cost <= baseline.total_cost + 0.05


def test_hand_made_instance_where_greedy_loses():
    # Order 1 (earlier) is as cheap at A as anywhere nearly; order 2 can only go cheaply to A.
    # Greedy gives A to order 1 (10) and order 2 gets B (100): 110. The optimum: 1→B (12), 2→A (10): 22.
    orders = [order(1, at=AT), order(2, at=AT + timedelta(hours=1))]
    providers = [provider(1, 1), provider(2, 1)]
    cost = table_cost({(1, 1): 10.0, (1, 2): 12.0, (2, 1): 10.0, (2, 2): 100.0})
    instance = planning.build_instance(orders, providers, cost, planning.all_pairs)
    baseline, plan = planning.greedy(instance), planning.min_cost(instance)
    assert (baseline.assignments, baseline.total_cost) == ({1: 1, 2: 2}, 110.0)
    assert (plan.assignments, plan.total_cost) == ({1: 2, 2: 1}, 22.0)


def test_placing_more_orders_wins_over_cheaper_plans():
    # Greedy puts order 1 on the only provider order 2 could use, and leaves order 2 out.
    orders = [order(1, at=AT), order(2, at=AT + timedelta(hours=1))]
    cost = table_cost({(1, 1): 1.0, (1, 2): 50.0, (2, 1): 5.0})
    instance = planning.build_instance(orders, [provider(1, 1), provider(2, 1)], cost, planning.all_pairs)
    baseline, plan = planning.greedy(instance), planning.min_cost(instance)
    assert baseline.unassigned == {2: planning.NO_CAPACITY}
    assert plan.assignments == {1: 2, 2: 1} and plan.unassigned == {}


@pytest.mark.parametrize(("change", "why"), [
    ({"active": False}, "inactive"),
    ({"service_type_ids": frozenset({2})}, "does not offer the type"),
    ({"community_ids": frozenset({2})}, "does not cover the community"),
    ({"hours": {1: (time(13, 0), time(18, 0))}}, "closed at 10:00 on Tuesday"),
    ({"hours": {0: (time(8, 0), time(18, 0))}}, "closed on Tuesday"),
])
def test_ineligible_providers_are_never_assigned(change, why):
    only = provider(1, 5, **change)
    instance = planning.build_instance([order(1)], [only], planning.default_cost, planning.all_pairs)
    assert planning.min_cost(instance).unassigned == {1: planning.NO_PROVIDER}, why
    assert planning.greedy(instance).unassigned == {1: planning.NO_PROVIDER}, why


def test_default_cost_prefers_near_well_rated_and_preferred():
    near, far = provider(1, 5, rating=5.0), provider(2, 5, location=(40.90, 111.75), rating=5.0)
    assert planning.default_cost(order(1), near) < planning.default_cost(order(1), far)
    worse = provider(3, 5, rating=3.0)
    assert planning.default_cost(order(1), worse) == pytest.approx(planning.default_cost(order(1), near) + 10.0)
    preferred = PlanOrder(**{**order(1).__dict__, "preferred_provider_id": 2})
    assert planning.default_cost(preferred, far) < planning.default_cost(order(1), far)


# --- runs on the database and the API -------------------------------------------------------------------

DAY = date(2099, 3, 3)  # a Tuesday, far from any demo order


def _scheduled_orders(session, count: int) -> list[Order]:
    """Orders for DAY at 10:00 local for households a flagship provider covers, with a type it offers."""
    flagship = session.get(Provider, 1)
    community_ids = [c.id for c in flagship.communities]
    from eldercare.households.models import Household

    households = session.scalars(sa.select(Household).where(Household.community_id.in_(community_ids))
                                 .order_by(Household.id).limit(count)).all()
    at = datetime(2099, 3, 3, 2, 0, tzinfo=UTC)
    orders = [Order(household_id=h.id, service_type_id=flagship.service_types[0].id, status="created",
                    source="schedule", scheduled_for=at) for h in households]
    session.add_all(orders)
    session.flush()
    return orders


def test_api_plans_and_applies(client, ops, db_session):
    orders = _scheduled_orders(db_session, 3)
    db_session.commit()
    headers = ops("supervisor1")
    dry = client.post("/api/v1/planning/runs", json={"date": DAY.isoformat()}, headers=headers)
    assert dry.status_code == 200, dry.get_json()
    body = dry.get_json()
    assert body["orders"] == 3 and body["applied"] is False
    assert len(body["assignments"]) + len(body["unassigned"]) == 3
    assert body["total_cost"] <= body["greedy"]["total_cost"] + 0.01
    db_session.expire_all()
    assert all(db_session.get(Order, o.id).planned_provider_id is None for o in orders)

    applied = client.post("/api/v1/planning/runs", json={"date": DAY.isoformat(), "apply": True}, headers=headers)
    assert applied.status_code == 200 and applied.get_json()["applied"] is True
    db_session.expire_all()
    for item in applied.get_json()["assignments"]:
        stored = db_session.get(Order, item["order_id"])
        assert (stored.planned_provider_id, stored.status, stored.provider_id) == (item["provider_id"], "created",
                                                                                   None)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "date"),
    ({"date": "tomorrow"}, "date"),
    ({"date": "2099-03-03", "apply": "yes"}, "apply"),
    ({"date": "2099-03-03", "extra": 1}, "extra"),
])
def test_api_bad_input_is_400_with_the_field(client, ops, body, field):
    response = client.post("/api/v1/planning/runs", json=body, headers=ops("admin"))
    assert response.status_code == 400
    assert field in error_of(response)["fields"]
