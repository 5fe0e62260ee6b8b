"""Alarm → operator screen: from a device's HTTP POST to `incident.created` in a connected Socket.IO client.

    .venv/bin/python -m bench.alarm_to_screen [--rate 50] [--seconds 10] [--heartbeats 100]

Production mode (gunicorn 2 workers × 32 threads, PostgreSQL, Redis message queue). `--rate` alarms per
second, each from a different home (so each opens an incident), while other devices send `--heartbeats`
heartbeats per second over HTTP. Beside it, in the same run, the bare Socket.IO round trip: the same client
emits `ping` to `/ops` and waits for the acknowledgement. Goal: p99 ≤ 250 ms.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import threading
import time
from datetime import UTC, datetime

import requests
import socketio
import sqlalchemy as sa

from bench.common import free_port, fresh_database, start_gunicorn, stop


def provision(url: str, count: int) -> dict[int, str]:
    """`count` HTTP devices, one per household, with tokens: {device id: token}."""
    from eldercare.devices.tokens import hash_secret

    engine = sa.create_engine(url)
    tokens = {}
    with engine.begin() as conn:
        households = conn.execute(sa.text("SELECT id FROM households ORDER BY id LIMIT :n"), {"n": count}).scalars()
        start = conn.execute(sa.text("SELECT max(id) FROM devices")).scalar() + 1
        rows = []
        for offset, household in enumerate(households):
            secret = secrets.token_urlsafe(32)
            tokens[start + offset] = f"d{start + offset}.{secret}"
            rows.append({"id": start + offset, "uid": f"A2S-{start + offset}", "h": household,
                         "th": hash_secret(secret)})
        conn.execute(sa.text(
            "INSERT INTO devices (id, uid, protocol, household_id, token_hash, heartbeat_interval_s, status, online,"
            " created_at, updated_at) VALUES (:id, :uid, 'http', :h, :th, 300, 'active', true, now(), now())"), rows)
    engine.dispose()
    return tokens


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--heartbeats", type=float, default=100)
    args = parser.parse_args()
    alarms = int(args.rate * args.seconds)
    url = fresh_database()
    tokens = provision(url, alarms + 200)
    alarm_devices = list(tokens)[:alarms]
    heartbeat_devices = list(tokens)[alarms:]
    port = free_port()
    server = start_gunicorn(url, port)
    base = f"http://127.0.0.1:{port}"
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    try:
        operator = requests.post(f"{base}/api/v1/auth/token", json={"username": "operator1", "password": "demo"},
                                 timeout=10).json()["access_token"]
        client = socketio.Client()
        client.on("incident.created", lambda data: seen.setdefault(data["device_id"], time.perf_counter()),
                  namespace="/ops")
        client.connect(base, namespaces=["/ops"], auth={"token": operator}, transports=["websocket"])
        stop_flag = threading.Event()

        def heartbeats() -> None:
            session, n = requests.Session(), 0
            while not stop_flag.is_set():
                device = heartbeat_devices[n % len(heartbeat_devices)]
                session.post(f"{base}/api/v1/device-events", timeout=10,
                             headers={"Authorization": f"Bearer {tokens[device]}"},
                             json={"event_id": f"hb{n}", "type": "heartbeat",
                                   "occurred_at": datetime.now(UTC).isoformat()})
                n += 1
                time.sleep(1 / args.heartbeats)

        def alarm(device: int) -> None:
            sent[device] = time.perf_counter()
            requests.post(f"{base}/api/v1/device-events", timeout=30,
                          headers={"Authorization": f"Bearer {tokens[device]}"},
                          json={"event_id": "sos-1", "type": "sos", "occurred_at": datetime.now(UTC).isoformat()})

        threading.Thread(target=heartbeats, daemon=True).start()
        pings: list[float] = []
        threads = []
        started = time.perf_counter()
        for index, device in enumerate(alarm_devices):
            target = started + index / args.rate
            time.sleep(max(0.0, target - time.perf_counter()))
            thread = threading.Thread(target=alarm, args=(device,))
            thread.start()
            threads.append(thread)
            if index % 5 == 0:  # the bare round trip, interleaved in the same run
                t0 = time.perf_counter()
                client.call("ping", 1, namespace="/ops", timeout=10)
                pings.append(time.perf_counter() - t0)
        for thread in threads:
            thread.join()
        time.sleep(2)
        stop_flag.set()
        client.disconnect()
    finally:
        stop(server)
    latencies = [(seen[d] - sent[d]) * 1000 for d in alarm_devices if d in seen]
    ping_ms = [p * 1000 for p in pings]
    print(f"alarms sent {alarms} at {args.rate:g}/s with {args.heartbeats:g} heartbeats/s; received {len(latencies)}")
    print(f"{'path':<40}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    print(f"{'POST → incident.created on /ops':<40}{statistics.median(latencies):>10.1f}"
          f"{percentile(latencies, 0.99):>10.1f}{max(latencies):>10.1f}")
    print(f"{'bare Socket.IO round trip (ping/ack)':<40}{statistics.median(ping_ms):>10.1f}"
          f"{percentile(ping_ms, 0.99):>10.1f}{max(ping_ms):>10.1f}")
    print("goal: p99 <= 250 ms")


if __name__ == "__main__":
    main()
