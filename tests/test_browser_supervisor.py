"""The supervisor view in headless Chromium, beside an operator's console (two browser contexts), on the
live server: alarms appear in the supervisor's unclaimed list and the operator is shown online; the
operator's claim moves the KPI strip and the operator's load; the supervisor mass-cancels two false alarms
with one reason and they leave the operator's queue without a reload; a late alarm reaches the review list
and is marked reviewed; the operator closing the console shows offline."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from eldercare.devices import tokens

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"



def expect(locator: object) -> object:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def devices(migrated_db):
    """Four HTTP devices (fresh tokens) of four homes without an open incident, away from the ones the
    other browser tests take (those count from the lowest ids)."""
    engine = sa.create_engine(migrated_db)
    with engine.begin() as conn:
        ids = conn.execute(sa.text(
            "SELECT DISTINCT ON (d.household_id) d.id FROM devices d WHERE d.protocol = 'http'"
            " AND d.status = 'active' AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.household_id ="
            " d.household_id AND i.status IN ('new', 'claimed', 'in_progress', 'on_hold', 'dispatched',"
            " 'escalated')) ORDER BY d.household_id DESC, d.id OFFSET 40 LIMIT 4"
        )).scalars().all()
        assert len(ids) == 4
        secrets = []
        for device_id in ids:
            token, token_hash = tokens.new_token(device_id)
            conn.execute(sa.text("UPDATE devices SET token_hash = :h WHERE id = :d"), {"h": token_hash, "d": device_id})
            secrets.append(token)
        operator_id = conn.execute(sa.text("SELECT id FROM users WHERE username = 'operator1'")).scalar_one()
    yield secrets, operator_id, engine
    engine.dispose()


def alarm(live_server, device_token: str, type_: str) -> int:
    response = requests.post(f"{live_server.url}/api/v1/device-events", timeout=10,
                             headers={"Authorization": f"Bearer {device_token}"},
                             json={"event_id": f"sv-{type_}-{time.time()}", "type": type_,
                                   "occurred_at": datetime.now(UTC).isoformat()})
    assert response.status_code == 202, response.text
    return response.json()["incident_id"]


def kpi(tab, key: str) -> str:
    return tab.page.locator(f'#kpis [data-kpi="{key}"]').inner_text()


def test_supervisor_view_live(console, live_server, devices):
    secrets, operator_id, engine = devices
    supervisor, operator = console(), console()
    supervisor.log_in("supervisor1")
    supervisor.page.goto("/ops/supervisor")
    operator.log_in("operator1")
    for tab in (supervisor, operator):
        expect(tab.page.locator("#conn")).to_have_attribute("data-state", "connected")
        expect(tab.page.locator("#kpis")).to_have_attribute("data-loaded", "true")
    me = supervisor.page.locator(f"#operator-{operator_id}")
    expect(me).to_have_attribute("data-online", "true")  # the operator's console is connected
    held_before = int(me.get_attribute("data-held"))

    # Three alarms reach the supervisor without a reload, with their age; the KPI strip counts them.
    unanswered_before = int(kpi(supervisor, "unanswered"))
    false_one, false_two = alarm(live_server, secrets[0], "power_loss"), alarm(live_server, secrets[1], "power_loss")
    real = alarm(live_server, secrets[2], "sos")
    for incident_id in (false_one, false_two, real):
        expect(supervisor.page.locator(f"#unclaimed-{incident_id}")).to_be_visible()
        expect(operator.page.locator(f"#incident-{incident_id}")).to_be_visible()
    expect(supervisor.page.locator(f"#unclaimed-{false_one} .u-type")).to_have_text("断电")
    expect(supervisor.page.locator('#kpis [data-kpi="unanswered"]')).to_have_text(str(unanswered_before + 3))

    # The operator claims the real one: the supervisor sees the load and the KPIs move, live.
    operator.page.locator(f"#incident-{real} button.claim").click()
    expect(supervisor.page.locator(f"#unclaimed-{real}")).to_have_count(0)
    expect(me).to_have_attribute("data-held", str(held_before + 1))
    expect(supervisor.page.locator('#kpis [data-kpi="unanswered"]')).to_have_text(str(unanswered_before + 2))
    expect(operator.page.locator('#kpis [data-kpi="unanswered"]')).to_have_text(str(unanswered_before + 2))
    expect(supervisor.page.locator('#kpis [data-kpi="time_to_claim"]')).not_to_have_text("–")

    # Mass cancel of the two false alarms with one reason: they leave the operator's queue live.
    page = supervisor.page
    expect(page.locator("#cancel-selected")).to_be_disabled()
    page.locator(f"#unclaimed-{false_one} input.pick").check()
    page.locator(f"#unclaimed-{false_two} input.pick").check()
    page.locator("#cancel-reason").fill("全区停电，设备重启")
    page.locator("#cancel-selected").click()
    expect(page.locator("#cancel-status")).to_contain_text("已将 2 条报警作为误报取消")
    for incident_id in (false_one, false_two):
        expect(operator.page.locator(f"#incident-{incident_id}")).to_have_count(0)
        expect(page.locator(f"#unclaimed-{incident_id}")).to_have_count(0)
    expect(operator.page.locator(f"#incident-{real}")).to_be_visible()  # the claimed one stays
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, outcome, outcome_notes FROM incidents WHERE id IN (:a, :b)"),
                            {"a": false_one, "b": false_two}).all()
    assert rows == [("cancelled", "false_alarm", "全区停电，设备重启")] * 2
    # Cancelled before anyone answered: they no longer count as unanswered.
    expect(page.locator('#kpis [data-kpi="unanswered"]')).to_have_text(str(unanswered_before))

    # An alarm answered after 4 minutes reaches the review list live; marking it reviewed removes it.
    late = alarm(live_server, secrets[3], "fall")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE incidents SET created_at = created_at - interval '4 minutes' WHERE id = :i"),
                     {"i": late})
    claimed = requests.post(f"{live_server.url}/api/v1/incidents/{late}/claim", timeout=10,
                            headers={"Authorization": f"Bearer {live_server.token('operator1')}"})
    assert claimed.status_code == 200
    row = page.locator(f"#review-{late}")
    expect(row).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ops-supervisor.png"), full_page=True)
    row.locator("input.review-note").fill("话务员正在处理另一起报警")
    row.locator("button.mark-reviewed").click()
    expect(page.locator(f"#review-{late}")).to_have_count(0)
    with engine.connect() as conn:
        reviews = conn.execute(sa.text("SELECT actor_label, reason FROM state_events WHERE entity_type = 'incident'"
                                       " AND entity_id = :i AND reason LIKE 'reviewed%'"), {"i": late}).all()
    assert reviews == [("supervisor1", "reviewed: 话务员正在处理另一起报警")]

    # The operator closes the console: shown offline at once.
    operator.page.close()
    expect(me).to_have_attribute("data-online", "false")
    assert supervisor.errors == [] and operator.errors == []
