"""The whole production path of an in-app notice, with real processes:

    POST /api/v1/notices (gunicorn) → commit → Celery task on Redis → worker process runs
    alerts.deliver_in_app → emit through the Redis message queue → gunicorn → WebSocket client.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import socketio as sio

from eldercare.core.events import OPS_NAMESPACE, PROVIDER_NAMESPACE

pytestmark = pytest.mark.e2e

QUIET_WAIT_S = 2.0  # how long a client that must not hear a notice is listened to


def bearer(live_server, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {live_server.token(username)}"}


@pytest.fixture(scope="module")
def as_supervisor(live_server) -> dict[str, str]:
    return bearer(live_server, "supervisor1")


@pytest.fixture(scope="module")
def provider_ids(live_server) -> dict[str, int]:
    ids = {name: requests.get(f"{live_server.url}/api/v1/me", headers=bearer(live_server, name), timeout=10)
           .json()["provider_id"] for name in ("provider1", "provider2")}
    assert ids["provider1"] and ids["provider2"] and ids["provider1"] != ids["provider2"]
    return ids


@pytest.fixture
def listen(live_server) -> Iterator:
    clients: list[sio.SimpleClient] = []

    def connect(username: str, namespace: str) -> sio.SimpleClient:
        client = sio.SimpleClient()
        client.connect(live_server.url, namespace=namespace, transports=["websocket"], wait_timeout=10,
                       auth={"token": live_server.token(username)})
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.disconnect()


def post_notice(live_server, headers: dict, audience: str, text: str, **extra: object) -> dict:
    response = requests.post(f"{live_server.url}/api/v1/notices", headers=headers, timeout=10,
                             json={"audience": audience, "text": text, **extra})
    assert response.status_code == 202, response.text
    return response.json()


def wait_notice(client: sio.SimpleClient, text: str, timeout: float) -> tuple[dict, float]:
    """The notice carrying `text`, and when it arrived (monotonic); other events are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no notice {text!r} within {timeout}s")
        event = client.receive(timeout=remaining)
        if event[0] == "notice" and event[1].get("text") == text:
            return event[1], time.monotonic()


def hears_nothing(client: sio.SimpleClient, text: str, timeout: float = QUIET_WAIT_S) -> bool:
    try:
        wait_notice(client, text, timeout)
    except (TimeoutError, sio.exceptions.TimeoutError):
        return True
    return False


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def test_provider_notice_reaches_that_company_only(live_server, celery_worker, provider_ids, listen, as_supervisor):
    own = listen("provider1", PROVIDER_NAMESPACE)
    other = listen("provider2", PROVIDER_NAMESPACE)
    ops = listen("operator1", OPS_NAMESPACE)
    text = unique("暴雨预警：请合理安排上门时间")

    sent = time.monotonic()
    created = post_notice(live_server, as_supervisor, f"provider:{provider_ids['provider1']}", text)
    payload, arrived = wait_notice(own, text, timeout=10)

    print(f"\nprovider notice: POST → WebSocket {1000 * (arrived - sent):.1f} ms (worker on Redis)")
    assert created["state"] == "queued"
    assert payload == {"id": created["id"], "status": "sent", "audience": f"provider:{provider_ids['provider1']}",
                       "text": text, "sent_at": payload["sent_at"], "sender": "supervisor1"}
    assert payload["sent_at"].endswith("Z")
    assert hears_nothing(other, text), "another company's staff heard the notice"
    assert hears_nothing(ops, text, timeout=0.2), "a provider notice leaked to the ops namespace"


def test_ops_notice_reaches_operators_not_providers(live_server, celery_worker, listen, as_supervisor):
    ops = listen("operator1", OPS_NAMESPACE)
    supervisor_console = listen("supervisor1", OPS_NAMESPACE)
    provider = listen("provider1", PROVIDER_NAMESPACE)
    text = unique("交接班提醒")

    created = post_notice(live_server, as_supervisor, "ops", text)

    for client in (ops, supervisor_console):
        payload, _ = wait_notice(client, text, timeout=10)
        assert (payload["id"], payload["audience"], payload["status"]) == (created["id"], "ops", "sent")
    assert hears_nothing(provider, text)


def test_supervisors_notice_skips_operators(live_server, celery_worker, listen, as_supervisor):
    operator = listen("operator1", OPS_NAMESPACE)
    supervisor_console = listen("supervisor1", OPS_NAMESPACE)
    text = unique("主管会议")
    post_notice(live_server, as_supervisor, "supervisors", text)
    payload, _ = wait_notice(supervisor_console, text, timeout=10)
    assert payload["audience"] == "supervisors"
    assert hears_nothing(operator, text)


def test_countdown_is_honoured_by_the_worker(live_server, celery_worker, listen, as_supervisor):
    ops = listen("operator1", OPS_NAMESPACE)
    text = unique("两秒后送达")

    sent = time.monotonic()
    post_notice(live_server, as_supervisor, "ops", text, deliver_in_s=2)
    _, arrived = wait_notice(ops, text, timeout=15)

    elapsed = arrived - sent
    print(f"\nnotice with deliver_in_s=2 arrived after {elapsed:.3f} s")
    assert elapsed >= 1.95, "delivered before its countdown"
    assert elapsed < 6, "the countdown took far too long"


def test_latency_of_worker_emits(live_server, celery_worker, listen, as_supervisor):
    ops = listen("operator1", OPS_NAMESPACE)
    samples = []
    with requests.Session() as http:
        for n in range(20):
            text = unique(f"latency {n}")
            sent = time.monotonic()
            response = http.post(f"{live_server.url}/api/v1/notices", json={"audience": "ops", "text": text},
                                 headers=as_supervisor, timeout=10)
            assert response.status_code == 202
            _, arrived = wait_notice(ops, text, timeout=10)
            samples.append(1000 * (arrived - sent))
    samples.sort()
    print(f"\nPOST → worker → Redis → WebSocket over {len(samples)} notices: "
          f"p50 {statistics.median(samples):.1f} ms, p90 {samples[int(len(samples) * 0.9) - 1]:.1f} ms, "
          f"max {samples[-1]:.1f} ms")
    assert statistics.median(samples) < 2000
