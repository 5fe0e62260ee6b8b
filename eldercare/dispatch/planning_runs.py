"""A planning run: load one local day's scheduled orders and the providers from the database, plan them
(dispatch/planning.py) beside the greedy baseline, and, when asked, store the proposals.

Which orders: `created` or `pending_dispatch`, no provider yet, scheduled within the day in the centre's time
zone. Capacity left = daily capacity − that day's orders the company already has (not cancelled).

Applying stores each proposal as `orders.planned_provider_id` (+ `planned_at`) and clears it on the day's
orders left unassigned; the status does not change: dispatch (matching/offers) decides what to do with a
proposal, e.g. offer it to the planned company first. An order taken by dispatch meanwhile (a provider set, or
moved on) is left alone and reported under `skipped`: each UPDATE re-checks that in its WHERE.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter as time_counter

import sqlalchemy as sa

from eldercare.core import audit
from eldercare.core.models import User
from eldercare.core.time import CITY_TZ, utcnow
from eldercare.dispatch import planning
from eldercare.dispatch.models import Order, RecurringOrder
from eldercare.extensions import db
from eldercare.geo.distance import is_urban_trip
from eldercare.geo.models import Community, District
from eldercare.households.models import Household
from eldercare.providers.models import Provider, ProviderHours, provider_coverage, provider_service_types

PLANNABLE = ("created", "pending_dispatch")
FAIRNESS_WINDOW_DAYS = 30


@dataclass
class PlanRun:
    day: date
    plan: planning.Plan
    baseline: planning.Plan
    orders: int
    applied: bool = False
    skipped: list[int] = field(default_factory=list)
    prepare_seconds: float = 0.0  # loading the day and pricing the eligible pairs


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), CITY_TZ).astimezone(UTC)
    return start, datetime.combine(day + timedelta(days=1), time(), CITY_TZ).astimezone(UTC)


def load_orders(day: date) -> list[planning.PlanOrder]:
    start, end = day_window(day)
    rows = db.session.execute(
        sa.select(Order.id, Order.service_type_id, Order.scheduled_for, Household.community_id, Household.lat,
                  Household.lng, District.code, RecurringOrder.preferred_provider_id)
        .join(Household, Household.id == Order.household_id)
        .join(Community, Community.id == Household.community_id)
        .join(District, District.id == Community.district_id)
        .outerjoin(RecurringOrder, RecurringOrder.id == Order.recurrence_id)
        .where(Order.status.in_(PLANNABLE), Order.provider_id.is_(None),
               Order.scheduled_for >= start, Order.scheduled_for < end)
    )
    return [planning.PlanOrder(id=r.id, service_type_id=r.service_type_id, community_id=r.community_id,
                               location=(r.lat, r.lng), urban=is_urban_trip(r.code), at=r.scheduled_for,
                               preferred_provider_id=r.preferred_provider_id) for r in rows]


def _grouped(statement: sa.Select) -> dict[int, set]:
    grouped: dict[int, set] = defaultdict(set)
    for key, value in db.session.execute(statement):
        grouped[key].add(value)
    return grouped


def _order_counts(*criteria: sa.ColumnElement[bool]) -> dict[int, int]:
    return dict(db.session.execute(
        sa.select(Order.provider_id, sa.func.count()).where(Order.provider_id.is_not(None), *criteria)
        .group_by(Order.provider_id)).all())


def load_providers(day: date) -> list[planning.PlanProvider]:
    start, end = day_window(day)
    types = _grouped(sa.select(provider_service_types.c.provider_id, provider_service_types.c.service_type_id))
    coverage = _grouped(sa.select(provider_coverage.c.provider_id, provider_coverage.c.community_id))
    hours: dict[int, dict] = defaultdict(dict)
    for row in db.session.scalars(sa.select(ProviderHours)):
        hours[row.provider_id][row.weekday] = (row.opens_at, row.closes_at)
    taken = _order_counts(Order.scheduled_for >= start, Order.scheduled_for < end, Order.status != "cancelled")
    recent = _order_counts(Order.scheduled_for >= start - timedelta(days=FAIRNESS_WINDOW_DAYS),
                           Order.scheduled_for < start, Order.status != "cancelled")
    rows = db.session.execute(sa.select(Provider, District.code).join(District, District.id == Provider.district_id))
    return [planning.PlanProvider(
        id=p.id, service_type_ids=frozenset(types[p.id]), community_ids=frozenset(coverage[p.id]),
        hours=hours[p.id], capacity=max(0, p.daily_capacity - taken.get(p.id, 0)),
        location=(p.base_lat, p.base_lng), urban=is_urban_trip(code), rating=p.rating,
        utilisation=min(1.0, recent.get(p.id, 0) / max(1, FAIRNESS_WINDOW_DAYS * p.daily_capacity)),
        active=p.status == "active",
    ) for p, code in rows]


def run(day: date, *, apply: bool, actor: User | None = None, cost: planning.Cost = planning.default_cost) -> PlanRun:
    started = time_counter()
    orders, providers = load_orders(day), load_providers(day)
    instance = planning.build_instance(orders, providers, cost)
    prepared = time_counter() - started
    result = PlanRun(day=day, plan=planning.min_cost(instance), baseline=planning.greedy(instance),
                     orders=len(orders), prepare_seconds=prepared)
    if apply:
        result.skipped = store(result.plan, orders)
        result.applied = True
        audit.record("planning.applied", target_type="planning_day", actor=actor, day=day.isoformat(),
                     orders=len(orders), assigned=len(result.plan.assignments),
                     unassigned=len(result.plan.unassigned), skipped=len(result.skipped),
                     total_cost=round(result.plan.total_cost, 2))
    return result


def store(plan: planning.Plan, orders: list[planning.PlanOrder]) -> list[int]:
    """Write the proposals (one UPDATE per provider); returns the ids of orders taken meanwhile."""
    now = utcnow()
    by_provider: dict[int | None, list[int]] = defaultdict(list)
    for order in orders:
        by_provider[plan.assignments.get(order.id)].append(order.id)
    written: set[int] = set()
    for provider_id, order_ids in by_provider.items():
        written.update(db.session.scalars(
            sa.update(Order)
            .where(Order.id.in_(order_ids), Order.provider_id.is_(None), Order.status.in_(PLANNABLE))
            .values(planned_provider_id=provider_id, planned_at=None if provider_id is None else now)
            .returning(Order.id)
            .execution_options(synchronize_session=False)
        ))
    return sorted(order.id for order in orders if order.id not in written)
