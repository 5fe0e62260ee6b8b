"""Matching decision time (issue 6): ranked eligible providers for one order, on the demo city.

    .venv/bin/python -m bench.matching_bench [--decisions 2000] [--orders 20000] [--daytime]

A fresh PostgreSQL database with the demo city (136 providers, 110 service types, 5,000+ households) plus
`--orders` historical orders spread over the last 60 days (jobs in hand, this month's shares, offers and
follow-up ratings), so the load query and the statistics read real rows. Then `--decisions` decisions, each a
random (household, service type) at a random time in the coming week: `matching.evaluate(request)` — the
five rules, the live load query and the ranking — timed one by one with the directory and statistics cached
(as in a running process), plus the cold first decision that builds the caches. Goal: p99 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import timedelta

import sqlalchemy as sa

from bench.common import fresh_database


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def seed_history(url: str, count: int, rng: random.Random) -> None:
    """Orders of the last 60 days, each with its accepted offer; recent ones still in hand; some rated."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        homes = conn.execute(sa.text("SELECT id FROM households")).scalars().all()
        pairs = conn.execute(sa.text("SELECT provider_id, service_type_id FROM provider_service_types")).all()
        now = conn.execute(sa.text("SELECT now()")).scalar()
        orders, offers, follow_ups = [], [], []
        for i in range(1, count + 1):
            provider_id, type_id = rng.choice(pairs)
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
            status = rng.choice(("accepted", "assigned", "en_route")) if now - created < timedelta(hours=3) \
                else rng.choice(("completed", "verified", "cancelled"))
            orders.append({"id": i, "h": rng.choice(homes), "t": type_id, "p": provider_id, "s": status,
                           "c": created, "a": created + timedelta(minutes=3)})
            offers.append({"o": i, "p": provider_id, "s": rng.choice(("accepted",) * 4 + ("declined", "expired")),
                           "c": created})
            if status == "verified":
                follow_ups.append({"o": i, "r": rng.choice((3, 4, 4, 5, 5, 5)), "d": created})
        conn.execute(sa.text(
            "INSERT INTO orders (id, household_id, service_type_id, provider_id, status, source, offer_attempts,"
            " dispatch_mode, widened, created_at, updated_at, accepted_at) VALUES (:id, :h, :t, :p, :s, 'operator',"
            " 0, 'sequential', false, :c, :c, :a)"), orders)
        conn.execute(sa.text("SELECT setval('orders_id_seq', :n)"), {"n": count})
        conn.execute(sa.text(
            "INSERT INTO offers (order_id, provider_id, status, rank, created_at, expires_at, extended)"
            " VALUES (:o, :p, :s, 1, :c, :c, false)"), offers)
        if follow_ups:
            conn.execute(sa.text(
                "INSERT INTO follow_ups (order_id, due_at, status, rating, complaint)"
                " VALUES (:o, :d, 'done', :r, false)"), follow_ups)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))  # as autovacuum would soon after a bulk load
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--daytime", action="store_true",
                        help="service times Monday-Friday 09:00-17:00 centre time only (most companies open)")
    args = parser.parse_args()
    rng = random.Random(6)
    url = fresh_database("eldercare_bench_matching")
    seed_history(url, args.orders, rng)

    from eldercare import create_app
    from eldercare.catalog.models import ServiceType
    from eldercare.core.time import CITY_TZ, utcnow
    from eldercare.dispatch import matching
    from eldercare.extensions import db
    from eldercare.households.models import Household

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        homes = db.session.execute(sa.select(Household.community_id, Household.lat, Household.lng)).all()
        types = db.session.execute(sa.select(ServiceType.id, ServiceType.default_sla_minutes)).all()
        providers = db.session.scalar(sa.text("SELECT count(*) FROM providers"))
        now = utcnow()

        def random_request() -> matching.MatchRequest:
            home, service = rng.choice(homes), rng.choice(types)
            at = now + timedelta(minutes=rng.randint(0, 7 * 24 * 60))
            if args.daytime:
                local = at.astimezone(CITY_TZ)
                local += timedelta(days=(7 - local.weekday()) % 7 if local.weekday() > 4 else 0)
                at = local.replace(hour=rng.randint(9, 16), minute=rng.randint(0, 59))
            return matching.MatchRequest(service.id, home.community_id, home.lat, home.lng, at, now,
                                         service.default_sla_minutes)

        matching.invalidate()
        started = time.perf_counter()
        matching.evaluate(random_request(), now)
        cold_ms = (time.perf_counter() - started) * 1000
        timings, eligible = [], []
        for _ in range(args.decisions):
            request = random_request()
            started = time.perf_counter()
            screening = matching.evaluate(request, now)
            timings.append((time.perf_counter() - started) * 1000)
            eligible.append(len(screening.eligible))
        # The machine's noise floor in the same run: one `SELECT 1` round trip to PostgreSQL.
        floor = []
        for _ in range(args.decisions):
            started = time.perf_counter()
            db.session.execute(sa.text("SELECT 1")).all()
            floor.append((time.perf_counter() - started) * 1000)
        db.session.remove()
    print(f"providers {providers}, service types {len(types)}, historical orders {args.orders}, "
          f"decisions {args.decisions}")
    print(f"cold first decision (builds the caches): {cold_ms:.1f} ms")
    print(f"decision: p50 {percentile(timings, 0.5):.2f} ms, p90 {percentile(timings, 0.9):.2f} ms, "
          f"p99 {percentile(timings, 0.99):.2f} ms, max {max(timings):.2f} ms, mean {statistics.mean(timings):.2f} ms")
    print(f"noise floor, SELECT 1 round trip: p50 {percentile(floor, 0.5):.2f} ms, "
          f"p99 {percentile(floor, 0.99):.2f} ms")
    print(f"eligible providers per decision: mean {statistics.mean(eligible):.1f}, max {max(eligible)}, "
          f"none in {sum(1 for n in eligible if n == 0)} of {len(eligible)}")


if __name__ == "__main__":
    main()
