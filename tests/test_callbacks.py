"""Issue 6, item 4: a device's green "service" key opens a call-back task for the operators (one pending
per household, presses counted, announced live), which an operator closes once; the order page and the
additive API fields it reads (rejected providers' names, the follow-up's order facts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from eldercare.core import events, timers
from eldercare.core.models import AuditEvent
from eldercare.devices import tokens
from eldercare.dispatch import matching
from eldercare.dispatch.models import CallbackTask
from tests.conftest import NoCountdown
from tests.dispatch_helpers import bearer, busy_household, place, staff_of
from tests.helpers import error_of, login_session, quiet_device

NOW = datetime.now(UTC).isoformat()


@pytest.fixture
def emitted(monkeypatch, db_session):
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "emit_now", lambda name, data, **_: sent.append((name, data)))
    monkeypatch.setattr(timers, "fire_timer", NoCountdown)
    matching.invalidate()
    yield sent
    matching.invalidate()


@pytest.fixture
def green_key(db_session):
    """An HTTP device of a home without open incidents, with a fresh token; returns (device, press)."""
    device = quiet_device(db_session, "http")
    token, token_hash = tokens.new_token(device.id)
    device.token_hash = token_hash
    db_session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    def press(client, event_id: str):
        return client.post("/api/v1/device-events", headers=headers,
                           json={"event_id": event_id, "type": "service_request", "occurred_at": NOW})

    return device, press


def pending_of(session, household_id: int) -> list[CallbackTask]:
    return session.scalars(sa.select(CallbackTask).where(CallbackTask.household_id == household_id,
                                                         CallbackTask.status == "pending")).all()


def test_green_key_opens_one_callback_and_counts_presses(client, db_session, emitted, green_key):
    device, press = green_key
    first = press(client, "svc-1")
    assert first.status_code == 202 and first.get_json()["incident_id"] is None  # not an alarm
    assert press(client, "svc-1").get_json()["duplicate"] is True  # a repeat is not a press
    assert press(client, "svc-2").status_code == 202
    [task] = pending_of(db_session, device.household_id)
    db_session.refresh(task)
    assert (task.presses, task.device_id, task.status) == (2, device.id, "pending")
    updates = [data for name, data in emitted if name == "callback.updated"]
    assert updates == [{"id": task.id, "status": "pending", "household_id": device.household_id, "presses": 1},
                       {"id": task.id, "status": "pending", "household_id": device.household_id, "presses": 2}]


def test_a_batch_of_presses_is_one_statement(app, db_session, emitted, green_key):
    """The intake batch: several presses of one home and another home's, one upsert."""
    from eldercare.dispatch import callbacks
    from tests.helpers import quiet_homes

    device, _ = green_key
    other = next(d for d in quiet_homes(db_session, 5) if d.household_id != device.household_id)
    at = datetime.now(UTC)
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(args[2])

    connection = db_session.connection()
    sa.event.listen(connection, "before_cursor_execute", seen)
    callbacks.open_for_presses([callbacks.Press(device.household_id, device.id, at),
                                callbacks.Press(device.household_id, device.id, at),
                                callbacks.Press(other.household_id, other.id, at)])
    sa.event.remove(connection, "before_cursor_execute", seen)
    assert len([s for s in statements if "callback_tasks" in s]) == 1
    db_session.commit()
    assert pending_of(db_session, device.household_id)[0].presses == 2
    assert pending_of(db_session, other.household_id)[0].presses == 1


def test_operators_list_and_close_a_callback_once(client, db_session, emitted, ops, green_key):
    device, press = green_key
    press(client, "svc-list")
    listed = client.get("/api/v1/callback-tasks?per_page=100", headers=ops("operator1"))
    assert listed.status_code == 200
    [item] = [t for t in listed.get_json()["items"] if t["household_id"] == device.household_id]
    assert item["household"]["code"] and item["household"]["address"] and item["status"] == "pending"
    audit = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "callback.list")
                               .order_by(AuditEvent.id.desc())).first()
    assert device.household_id in audit.detail["ids"]

    bad = client.post(f"/api/v1/callback-tasks/{item['id']}", json={"status": "maybe", "notes": 3},
                      headers=ops("operator1"))
    assert bad.status_code == 400 and set(error_of(bad)["fields"]) == {"status", "notes"}
    other_home = busy_household(db_session)
    order = place(client, ops("operator1"), other_home).get_json()
    wrong = client.post(f"/api/v1/callback-tasks/{item['id']}", json={"order_id": order["id"]},
                        headers=ops("operator1"))
    assert wrong.status_code == 400 and "order_id" in error_of(wrong)["fields"]
    mine = place(client, ops("operator1"), device.household_id, service_type="care.home_visit").get_json()
    done = client.post(f"/api/v1/callback-tasks/{item['id']}", json={"order_id": mine["id"], "notes": "要助浴"},
                       headers=ops("operator1"))
    assert done.status_code == 200
    assert (done.get_json()["status"], done.get_json()["order_id"]) == ("done", mine["id"])
    again = client.post(f"/api/v1/callback-tasks/{item['id']}", json={"status": "cancelled"},
                        headers=ops("supervisor1"))
    assert again.status_code == 409
    assert ("callback.updated", {"id": item["id"], "status": "done", "household_id": device.household_id,
                                 "presses": 1}) in emitted
    # Closed: the next press opens a new task.
    press(client, "svc-after")
    assert len(pending_of(db_session, device.household_id)) == 1
    assert client.get("/api/v1/callback-tasks", headers=bearer(staff_of(db_session, 1))).status_code == 403
    assert client.get("/api/v1/callback-tasks?status=bogus", headers=ops("operator1")).status_code == 400
    assert client.post("/api/v1/callback-tasks/999999", json={}, headers=ops("operator1")).status_code == 404


def test_candidates_name_the_left_out_and_follow_ups_carry_the_order(client, db_session, emitted, ops):
    order = place(client, ops("operator1"), busy_household(db_session)).get_json()
    candidates = client.get(f"/api/v1/orders/{order['id']}/candidates", headers=ops("operator1")).get_json()
    assert all(r["name_zh"] for r in candidates["rejected"])
    from eldercare.core.time import utcnow
    from eldercare.dispatch import followups
    from eldercare.dispatch.models import Order

    followups.schedule(db_session.get(Order, order["id"]), utcnow())
    db_session.commit()
    items = client.get("/api/v1/follow-ups?per_page=500", headers=ops("operator1")).get_json()["items"]
    [item] = [i for i in items if i["order_id"] == order["id"]]
    assert item["household_id"] == order_household(db_session, order["id"])
    assert item["service_name_zh"] and "provider_name_zh" in item


def order_household(session, order_id: int) -> int:
    from eldercare.dispatch.models import Order

    return session.get(Order, order_id).household_id


def test_order_page_renders_with_translated_strings(client):
    login_session(client, "operator1")
    home = client.get("/ops/").get_data(as_text=True)
    assert 'id="nav-orders"' in home and "/ops/orders" in home
    page = client.get("/ops/orders")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "新建工单" in html and "js/orders.js" in html and "js/order-tasks.js" in html
    assert "escalations.js" not in html  # supervisors only
    login_session(client, "supervisor1")
    assert "escalations.js" in client.get("/ops/orders").get_data(as_text=True)


def test_order_page_in_english_loads_only_its_own_files(client):
    import re

    login_session(client, "admin")
    html = client.get("/ops/orders?lang=en").get_data(as_text=True)
    assert "New order" in html and "Escalated orders" in html and "新建工单" not in html
    sources = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/static/") for source in sources), sources
    assert "<script>" not in html
