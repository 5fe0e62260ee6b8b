"""Notifications: messages/s handed to the Twilio SDK, and alarm → first Twilio request with a real worker.

    .venv/bin/python -m bench.notify_bench [--messages 2000] [--alarms 100] [--rate 10]

1. In one process, against a fresh database: `--messages` urgent SMS sent one after the other through
   `alerts.send_notification` (claim and commit the attempt, the SDK's request, record the SID and commit),
   the SDK's HTTP transport replaced by one that answers at once. Beside it, in the same run, the bare SDK:
   `client.messages.create` the same number of times on the same transport. The ratio is our overhead.
2. Production mode (gunicorn 2 × 32 threads, a Celery worker with beat, Redis): `--alarms` device alarms at
   `--rate` per second from different homes, each home with one contact, the cascade set to start at once
   (ELDERCARE_CASCADE_AFTER_S=0.01). Measured: from sending the device's POST to the first request for that
   contact arriving at a stand-in of api.twilio.com (the real SDK in the worker sends there). Goal p99 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests
import sqlalchemy as sa
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bench.alarm_to_screen import percentile, provision
from bench.common import BIN, REDIS_URL, ROOT, free_port, fresh_database, start_gunicorn, stop
from tests.live import FakeTwilio

CONTEXT = {"resident": "王秀英", "address": "新城区1号", "alarm": "sos", "centre": "12349"}
ACCOUNT, TOKEN, FROM = "AC" + "be4c" * 8, "bench-token", "+8647100000000"


class InstantTwilio(HttpClient):
    """The SDK's transport, replaced: answers every request at once with a new SID."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("bench-twilio"), False)
        self.count = 0

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        self.count += 1
        return Response(201, json.dumps({"sid": f"SM{self.count:032x}", "status": "queued"}))


def handed_to_sdk(url: str, count: int) -> dict:
    os.environ.update({"DATABASE_URL": url, "ELDERCARE_INSTANCE_PATH": "/tmp/eldercare-bench", "SECRET_KEY": "b",
                       "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_FROM_NUMBER": FROM})
    os.environ.pop("REDIS_URL", None)
    from eldercare import create_app
    from eldercare.alerts import notify, tasks
    from eldercare.extensions import db

    app = create_app()
    transport = InstantTwilio()
    app.extensions["twilio_http_client"] = transport
    notify.schedule = lambda *a, **k: None  # this part sends them itself, one after the other
    with app.app_context():
        ids = [notify.create(purpose_type="bench", purpose_id=i, channel="sms", template="cascade_alarm",
                             recipient=notify.Recipient("contact", None, f"1380000{i:04d}"), urgent=True,
                             context=CONTEXT).id
               for i in range(count)]
        db.session.commit()
        db.session.remove()
    app.extensions["celery"].set_current()
    half = count // 2
    started = time.perf_counter()
    outcomes = [tasks.send_notification(i) for i in ids[:half]]
    ours = time.perf_counter() - started
    # The worker's way: a pool of 8 threads (`--pool threads -c 8`), each task in its own transaction.
    with ThreadPoolExecutor(8, initializer=app.extensions["celery"].set_current) as pool:
        started = time.perf_counter()
        outcomes += list(pool.map(tasks.send_notification, ids[half:]))
        pooled = time.perf_counter() - started
    assert outcomes.count("sent") == count, outcomes[:5]
    assert transport.count == count
    client = Client(ACCOUNT, TOKEN, http_client=InstantTwilio())
    started = time.perf_counter()
    for i in range(count):
        client.messages.create(to=f"+86138000{i:05d}", from_=FROM, body="测试", status_callback="http://x/s")
    bare = time.perf_counter() - started
    return {"ours_per_s": half / ours, "pooled_per_s": (count - half) / pooled, "bare_per_s": count / bare}


def start_worker(url: str, env_extra: dict[str, str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "ELDERCARE_INSTANCE_PATH": "/tmp/eldercare-bench",
           "SECRET_KEY": "bench", **env_extra}
    proc = subprocess.Popen(
        [str(BIN / "celery"), "-A", "worker", "worker", "-B", "-Q", "alarms,dispatch,notify,default", "--pool",
         "threads", "-c", "8", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "-s",
         "/tmp/eldercare-bench/beat-schedule", "-n", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    return proc


def alarm_to_twilio(url: str, alarms: int, rate: float) -> dict:
    devices = provision(url, alarms)
    engine = sa.create_engine(url)
    numbers: dict[int, str] = {}
    with engine.begin() as conn:
        for n, device_id in enumerate(devices):
            household = conn.execute(sa.text("SELECT household_id FROM devices WHERE id = :d"),
                                     {"d": device_id}).scalar()
            numbers[device_id] = f"+861370000{n:04d}"
            conn.execute(sa.text("DELETE FROM contacts WHERE household_id = :h"), {"h": household})
            conn.execute(sa.text("UPDATE households SET notify_family_parallel = false WHERE id = :h"),
                         {"h": household})
            conn.execute(sa.text(
                "INSERT INTO contacts (household_id, priority, name, relation, phone, language, has_key, lives_nearby)"
                " VALUES (:h, 1, '家属', 'child', :p, 'zh', false, true)"), {"h": household, "p": numbers[device_id]})
    engine.dispose()
    twilio = FakeTwilio()
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_FROM_NUMBER": FROM,
           "ELDERCARE_TWILIO_API_BASE": twilio.url, "ELDERCARE_CASCADE_AFTER_S": "0.01"}
    subprocess.run(["redis-cli", "-u", REDIS_URL, "flushdb"], check=True, capture_output=True)
    port = free_port()
    server = start_gunicorn(url, port, **env)
    worker = start_worker(url, env, Path("/tmp/eldercare-bench/worker.log"))
    sent_at: dict[str, float] = {}
    try:
        session = requests.Session()

        def alarm(device_id: int, token: str) -> None:
            sent_at[numbers[device_id]] = time.time()
            response = session.post(f"http://127.0.0.1:{port}/api/v1/device-events", timeout=10,
                                    headers={"Authorization": f"Bearer {token}"},
                                    json={"event_id": uuid.uuid4().hex, "type": "sos",
                                          "occurred_at": datetime.now(UTC).isoformat()})
            assert response.status_code == 202, response.text

        threads = []
        started = time.monotonic()
        for n, (device_id, token) in enumerate(devices.items()):
            time.sleep(max(0.0, started + n / rate - time.monotonic()))
            thread = threading.Thread(target=alarm, args=(device_id, token))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len({r["form"].get("To") for r in twilio.requests}) < alarms:
            time.sleep(0.1)
    finally:
        stop(worker)
        stop(server)
    first: dict[str, float] = {}
    for request in twilio.requests:
        first.setdefault(request["form"].get("To"), request["at"])
    delays = [(first[number] - sent_at[number]) * 1000 for number in sent_at if number in first]
    return {"reached": len(delays), "p50_ms": statistics.median(delays), "p99_ms": percentile(delays, 0.99),
            "max_ms": max(delays)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--alarms", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10)
    args = parser.parse_args()
    url = fresh_database("eldercare_bench_notify")
    sdk = handed_to_sdk(url, args.messages)
    print(f"messages handed to the SDK: ours {sdk['ours_per_s']:.0f}/s one at a time,"
          f" {sdk['pooled_per_s']:.0f}/s with 8 threads; bare SDK {sdk['bare_per_s']:.0f}/s")
    latency = alarm_to_twilio(url, args.alarms, args.rate)
    print(f"alarm → first Twilio request ({latency['reached']}/{args.alarms} reached): p50 {latency['p50_ms']:.0f} ms,"
          f" p99 {latency['p99_ms']:.0f} ms, max {latency['max_ms']:.0f} ms")


if __name__ == "__main__":
    main()
