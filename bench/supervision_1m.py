"""Supervision of 1,000,000 simulated devices: memory, cost of one sweep, deadline → `device.offline` delay.

    .venv/bin/python -m bench.supervision_1m [--devices 1000000]

PostgreSQL holds the deadlines (`devices.next_heartbeat_due`, partial index on active devices); the sweep
(`eldercare.devices.supervision.mark_overdue_offline`) reads only what is due. Measured:
- sizes of the devices table and of the deadline index;
- one sweep when nothing is due, and when 1,000 devices are due (each gets an incident and an event);
- with a real Celery worker + beat (Redis broker, 1 s sweep), the delay between 500 deadlines spread over
  ten seconds and the moment each device was marked offline.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.common import BIN, REDIS_URL, ROOT, fresh_database, stop


def add_devices(url: str, count: int) -> float:
    engine = sa.create_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO devices (uid, protocol, household_id, heartbeat_interval_s, status, online,"
            " next_heartbeat_due, created_at, updated_at)"
            " SELECT 'SIM-' || n, 'watch', 1 + (n % 4000), 300, 'active', true,"
            "        now() + interval '10 minutes' + random() * interval '1 hour', now(), now()"
            " FROM generate_series(1, :count) AS n"), {"count": count})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE devices"))
    engine.dispose()
    return time.perf_counter() - started


def sizes(url: str) -> dict[str, float]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT pg_total_relation_size('devices'), pg_relation_size('ix_devices_heartbeat_due'),"
            " (SELECT count(*) FROM devices)")).one()
    engine.dispose()
    return {"table_mb": row[0] / 2**20, "deadline_index_mb": row[1] / 2**20, "devices": row[2]}


def timed_sweeps(url: str) -> dict[str, float]:
    os.environ.update(DATABASE_URL=url, ELDERCARE_INSTANCE_PATH="/tmp/eldercare-bench")
    os.environ.pop("REDIS_URL", None)
    from eldercare import create_app
    from eldercare.devices.supervision import mark_overdue_offline
    from eldercare.extensions import db

    app = create_app()
    idle = []
    with app.app_context():
        for _ in range(30):
            started = time.perf_counter()
            assert mark_overdue_offline() == []
            db.session.rollback()
            idle.append(time.perf_counter() - started)
        plan = db.session.execute(sa.text(
            "EXPLAIN SELECT id FROM devices WHERE status = 'active' AND next_heartbeat_due <= now()"
            " ORDER BY next_heartbeat_due LIMIT 1000")).scalars().all()
        db.session.execute(sa.text(
            "UPDATE devices SET next_heartbeat_due = now() - interval '1 second'"
            " WHERE id IN (SELECT id FROM devices WHERE uid LIKE 'SIM-%' ORDER BY id LIMIT 1000)"))
        db.session.commit()
        started = time.perf_counter()
        marked = mark_overdue_offline(limit=1000)
        db.session.commit()
        busy = time.perf_counter() - started
    return {"idle_sweep_ms": statistics.median(idle) * 1000, "idle_sweep_p99_ms": max(idle) * 1000,
            "sweep_1000_due_ms": busy * 1000, "marked": len(marked), "plan": plan[0],
            "sweeper_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def offline_delay(url: str, count: int = 500) -> dict[str, float]:
    """Deadlines spread over 10 s in the future; a real worker + beat marks them; delay = marked − due."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE devices SET next_heartbeat_due = now() + interval '3 seconds'"
            " + random() * interval '10 seconds'"
            " WHERE id IN (SELECT id FROM devices WHERE uid LIKE 'SIM-%' AND online ORDER BY id DESC LIMIT :n)"),
            {"n": count})
        due = dict(conn.execute(sa.text(
            "SELECT id, next_heartbeat_due FROM devices WHERE uid LIKE 'SIM-%' AND online"
            " AND next_heartbeat_due < now() + interval '1 minute'")).all())
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "ELDERCARE_INSTANCE_PATH": "/tmp/eldercare-bench",
           "SECRET_KEY": "bench"}
    log = open("/tmp/eldercare-bench/worker.log", "wb")  # noqa: SIM115 - handed to the child process
    command = [str(BIN / "celery"), "-A", "worker", "worker", "-B", "-Q", "alarms,dispatch,notify,default",
               "--pool", "threads", "-c", "4", "--loglevel", "WARNING", "-s", "/tmp/eldercare-bench/beat-schedule"]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        time.sleep(20)
    finally:
        stop(worker)
    with engine.connect() as conn:
        marked = dict(conn.execute(sa.text(
            "SELECT device_id, min(created_at) FROM incidents WHERE type = 'offline' AND device_id = ANY(:ids)"
            " GROUP BY device_id"), {"ids": list(due)}).all())
    engine.dispose()
    delays = sorted((marked[d] - due[d]).total_seconds() for d in due if d in marked)
    return {"devices": len(due), "marked": len(delays), "p50_s": statistics.median(delays),
            "p99_s": delays[int(len(delays) * 0.99) - 1], "max_s": delays[-1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1_000_000)
    args = parser.parse_args()
    url = fresh_database()
    print(f"inserted {args.devices:,} devices in {add_devices(url, args.devices):.1f}s")
    print("sizes:", {k: round(v, 1) for k, v in sizes(url).items()})
    sweep = timed_sweeps(url)
    print(f"sweep, nothing due: median {sweep['idle_sweep_ms']:.2f} ms, max {sweep['idle_sweep_p99_ms']:.2f} ms")
    print(f"sweep, 1,000 due:   {sweep['sweep_1000_due_ms']:.0f} ms ({sweep['marked']} marked offline, incidents "
          f"and events included); sweeper RSS {sweep['sweeper_rss_mb']:.0f} MB")
    print(f"plan: {sweep['plan']}")
    delay = offline_delay(url)
    print(f"deadline → offline, real worker + beat (1 s): {delay['marked']}/{delay['devices']} devices, "
          f"p50 {delay['p50_s']:.2f}s, p99 {delay['p99_s']:.2f}s, max {delay['max_s']:.2f}s (goal ≤ 5 s)")
    print(f"at {datetime.now(UTC) - timedelta(0):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
