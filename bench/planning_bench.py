"""Batch planning of one day: 1,000 scheduled orders over the demo's providers, min-cost flow vs greedy.

    .venv/bin/python -m bench.planning_bench [--orders 1000] [--rounds 3] [--seed 7]

A fresh database with the demo city; `--orders` orders for tomorrow (local time), each for a random household
and a service type that some active company covering its community offers, at a random quarter hour between
08:00 and 17:30. Then `planning_runs.run` as the API calls it (dry run), `--rounds` times: loading the day and
pricing the pairs, the min-cost flow, and the greedy baseline are timed separately. Goal: planning ≤ 1 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

from bench.common import fresh_database
from eldercare.core.time import CITY_TZ
from eldercare.households.models import Household
from eldercare.providers.models import Provider, provider_coverage, provider_service_types


def seed_orders(db, count: int, seed: int) -> datetime:
    from eldercare.dispatch.models import Order

    rng = random.Random(seed)
    tomorrow = (datetime.now(CITY_TZ) + timedelta(days=1)).date()
    offered = db.session.execute(
        sa.select(provider_coverage.c.community_id, provider_service_types.c.service_type_id).distinct()
        .join(provider_service_types, provider_service_types.c.provider_id == provider_coverage.c.provider_id)
        .join(Provider, Provider.id == provider_coverage.c.provider_id).where(Provider.status == "active")).all()
    types_by_community: dict[int, list[int]] = {}
    for community_id, service_type_id in offered:
        types_by_community.setdefault(community_id, []).append(service_type_id)
    households = db.session.execute(sa.select(Household.id, Household.community_id)).all()
    rows = []
    for _ in range(count):
        household_id, community_id = rng.choice(households)
        minutes = rng.randrange(8 * 60, 17 * 60 + 31, 15)
        local = datetime.combine(tomorrow, time(minutes // 60, minutes % 60), CITY_TZ)
        rows.append({"household_id": household_id, "service_type_id": rng.choice(types_by_community[community_id]),
                     "status": "created", "source": "schedule", "scheduled_for": local.astimezone(UTC)})
    db.session.execute(sa.insert(Order), rows)
    db.session.commit()
    return tomorrow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from eldercare import create_app
    from eldercare.dispatch import planning_runs
    from eldercare.extensions import db

    url = fresh_database("eldercare_bench_planning")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        day = seed_orders(db, args.orders, args.seed)
        providers = db.session.scalar(sa.select(sa.func.count()).select_from(Provider))
        active = db.session.scalar(sa.select(sa.func.count()).where(Provider.status == "active"))
        runs = []
        for _ in range(args.rounds):
            runs.append(planning_runs.run(day, apply=False))
            db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    last = runs[-1]
    plan, greedy = last.plan, last.baseline
    prepare = statistics.median(r.prepare_seconds for r in runs) * 1000
    solve = statistics.median(r.plan.seconds for r in runs) * 1000
    greedy_ms = statistics.median(r.baseline.seconds for r in runs) * 1000
    print(f"day {day}: {last.orders} orders, {providers} providers ({active} active)")
    print(f"load + price pairs: {prepare:.0f} ms (median of {args.rounds})")
    print(f"min-cost flow: {solve:.1f} ms; greedy: {greedy_ms:.1f} ms; planning total {prepare + solve:.0f} ms")
    print(f"min-cost: {len(plan.assignments)} assigned, {len(plan.unassigned)} unassigned, "
          f"total cost {plan.total_cost:.1f} min")
    print(f"greedy:   {len(greedy.assignments)} assigned, {len(greedy.unassigned)} unassigned, "
          f"total cost {greedy.total_cost:.1f} min")
    if greedy.total_cost:
        print(f"ratio min-cost / greedy: {plan.total_cost / greedy.total_cost:.4f}; per assigned order "
              f"{plan.total_cost / len(plan.assignments):.2f} vs {greedy.total_cost / len(greedy.assignments):.2f} min")
    reasons = {}
    for reason in plan.unassigned.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    print(f"unassigned by reason: {reasons}")


if __name__ == "__main__":
    main()
