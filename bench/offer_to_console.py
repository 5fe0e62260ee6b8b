"""Offer → provider console: from the operator's `POST /api/v1/orders` to `offer.created` in the company's
connected Socket.IO client on `/provider`.

    .venv/bin/python -m bench.offer_to_console [--orders 200] [--rate 10]

Production mode (gunicorn 2 × 32 threads, PostgreSQL, Redis message queue), a fresh database with the demo
city. So that every offer goes to one company whose console the benchmark holds open, one service type is
left to company 1 alone (its other providers' offer of it removed) with room for every order; each order is
for a different home that company 1 covers, so each decision is a full matching run. Beside it, in the same
run, the bare Socket.IO round trip of the same client (`ping` with acknowledgement).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import requests
import socketio
import sqlalchemy as sa

from bench.alarm_to_screen import percentile
from bench.common import free_port, fresh_database, start_gunicorn, stop


def prepare(url: str, count: int) -> tuple[str, list[int]]:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        type_id, code = conn.execute(sa.text(
            "SELECT st.id, st.code FROM service_types st JOIN provider_service_types pst"
            " ON pst.service_type_id = st.id WHERE pst.provider_id = 1 AND st.active ORDER BY st.id LIMIT 1")).one()
        conn.execute(sa.text("DELETE FROM provider_service_types WHERE service_type_id = :t AND provider_id <> 1"),
                     {"t": type_id})
        conn.execute(sa.text("UPDATE providers SET daily_capacity = 100000, concurrent_capacity = 100000,"
                             " status = 'active' WHERE id = 1"))
        homes = conn.execute(sa.text(
            "SELECT h.id FROM households h JOIN provider_coverage c ON c.community_id = h.community_id"
            " WHERE c.provider_id = 1 AND h.active ORDER BY h.id LIMIT :n"), {"n": count}).scalars().all()
    engine.dispose()
    return code, list(homes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10)
    args = parser.parse_args()
    url = fresh_database("eldercare_bench_offer")
    code, homes = prepare(url, args.orders)
    port = free_port()
    server = start_gunicorn(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        def token(username: str) -> str:
            response = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "demo"},
                                     timeout=10)
            response.raise_for_status()
            return response.json()["access_token"]

        operator = {"Authorization": f"Bearer {token('operator1')}"}
        client = socketio.SimpleClient()
        client.connect(base, namespace="/provider", auth={"token": token("provider1")}, transports=["websocket"])
        sent: dict[int, float] = {}
        arrived: dict[int, float] = {}
        lock = threading.Lock()
        session = requests.Session()

        def place(household_id: int) -> None:
            started = time.perf_counter()
            response = session.post(f"{base}/api/v1/orders", headers=operator, timeout=10,
                                    json={"household_id": household_id, "service_type": code})
            assert response.status_code == 201, response.text
            with lock:
                sent[response.json()["id"]] = started

        def listen() -> None:
            deadline = time.monotonic() + len(homes) / args.rate + 30
            while len(arrived) < len(homes) and time.monotonic() < deadline:
                try:
                    event, data = client.receive(timeout=1)
                except socketio.exceptions.TimeoutError:
                    continue
                if event == "offer.created":
                    arrived.setdefault(data["order_id"], time.perf_counter())

        listener = threading.Thread(target=listen)
        listener.start()
        threads = []
        began = time.monotonic()
        for n, household_id in enumerate(homes):
            time.sleep(max(0.0, began + n / args.rate - time.monotonic()))
            thread = threading.Thread(target=place, args=(household_id,))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        listener.join()
        delays = [(arrived[order_id] - started) * 1000 for order_id, started in sent.items() if order_id in arrived]
        pings = []
        for _ in range(50):
            started = time.perf_counter()
            client.call("ping", {}, timeout=5)
            pings.append((time.perf_counter() - started) * 1000)
        client.disconnect()
    finally:
        stop(server)
    print(f"orders {len(sent)} at {args.rate}/s; offers received {len(delays)}")
    print(f"POST /orders → offer.created on /provider: p50 {statistics.median(delays):.1f} ms,"
          f" p99 {percentile(delays, 0.99):.1f} ms, max {max(delays):.1f} ms")
    print(f"bare Socket.IO round trip: p50 {statistics.median(pings):.1f} ms,"
          f" p99 {percentile(pings, 0.99):.1f} ms")


if __name__ == "__main__":
    main()
