"""Heartbeats per second into one receiver process with real, batched persistence in PostgreSQL.

    .venv/bin/python -m bench.heartbeats [--connections 200] [--seconds 10] [--windows 1,8]

A `flask receivers` process (production mode) takes watch-protocol `LK` heartbeats from `--connections`
TCP connections (one watch each); each `LK` is answered only after the device's last-seen time and
next deadline are committed. The client is `bench.watch_bench.client`. `--windows`: heartbeats in flight
per connection (1 = a watch's own behaviour; more = the receiver, not the client, is the limit). Also run,
in the same process pair, with a no-op store would need another process; the protocol-only ceiling is
`bench/watch_bench.py --stores noop`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from pathlib import Path

import sqlalchemy as sa

from bench.common import free_port, fresh_database, start_receivers, stop
from bench.watch_bench import WATCH_BASE, client


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def add_watches(url: str, count: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO devices (uid, protocol, household_id, heartbeat_interval_s, status, online,"
            " created_at, updated_at)"
            " SELECT (:base + n)::text, 'watch', 1 + (n % 4000), 300, 'active', true, now(), now()"
            " FROM generate_series(0, :count - 1) AS n"), {"base": WATCH_BASE, "count": count})
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--windows", default="1,8")
    args = parser.parse_args()
    url = fresh_database()
    add_watches(url, args.connections)
    port = free_port()
    receivers = start_receivers(url, port)
    try:
        print(f"{'in flight':>10}{'heartbeats/s':>15}{'p50 ms':>9}{'p99 ms':>9}{'receiver CPU':>14}")
        for window in (int(w) for w in args.windows.split(",")):
            before = cpu_seconds(receivers.pid)
            rate, latencies = asyncio.run(client(port, args.connections, window, args.seconds))
            used = (cpu_seconds(receivers.pid) - before) / (args.seconds + 1)
            latencies.sort()
            print(f"{window:>10}{rate:>15,}{statistics.median(latencies) * 1000:>9.1f}"
                  f"{latencies[int(len(latencies) * 0.99)] * 1000:>9.1f}{used:>13.0%}")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            seen = conn.execute(sa.text("SELECT count(*) FROM devices WHERE protocol = 'watch' AND uid::bigint >= :b"
                                        " AND last_seen_at > now() - interval '5 minutes'"), {"b": WATCH_BASE}).scalar()
        engine.dispose()
        print(f"devices with a committed heartbeat: {seen}/{args.connections}")
    finally:
        stop(receivers)


if __name__ == "__main__":
    main()
