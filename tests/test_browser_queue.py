"""The live alarm queue in headless Chromium: two operators logged in; a device alarm appears on both
screens within a second without a reload, with the sound cue; one claims it and the other sees it claimed
at once; a second claim attempt is refused."""

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
def alarm_device(migrated_db):
    """An HTTP device (with a fresh token) of a home without an open incident."""
    engine = sa.create_engine(migrated_db)
    with engine.begin() as conn:
        device_id = conn.execute(sa.text(
            "SELECT d.id FROM devices d WHERE d.protocol = 'http' AND d.status = 'active' AND NOT EXISTS"
            " (SELECT 1 FROM incidents i WHERE i.household_id = d.household_id AND i.status IN"
            " ('new', 'claimed', 'in_progress', 'on_hold', 'dispatched', 'escalated')) ORDER BY d.id OFFSET 7"
            " LIMIT 1")).scalar_one()
        token, token_hash = tokens.new_token(device_id)
        conn.execute(sa.text("UPDATE devices SET token_hash = :h WHERE id = :d"), {"h": token_hash, "d": device_id})
    yield token
    engine.dispose()


def test_alarm_reaches_two_operators_live_and_one_claims(console, live_server, alarm_device):
    tabs = []
    for username in ("operator1", "operator2"):
        tab = console()
        tab.log_in(username)
        expect(tab.page.locator("#conn")).to_have_attribute("data-state", "connected")
        tab.page.keyboard.press("Shift")  # a user gesture: browsers start audio only after one
        tabs.append(tab)
    beeps_before = [tab.page.evaluate("window.Eldercare.beeps") for tab in tabs]

    sent = time.monotonic()
    response = requests.post(f"{live_server.url}/api/v1/device-events", timeout=10,
                             headers={"Authorization": f"Bearer {alarm_device}"},
                             json={"event_id": f"queue-{time.time()}", "type": "sos",
                                   "occurred_at": datetime.now(UTC).isoformat()})
    assert response.status_code == 202
    incident_id = response.json()["incident_id"]
    rows = [tab.page.locator(f"#incident-{incident_id}") for tab in tabs]
    for row in rows:
        expect(row).to_be_visible(timeout=1000)
    elapsed = time.monotonic() - sent
    assert elapsed < 1.5, f"alarm on both screens after {elapsed:.2f}s"
    for tab, before in zip(tabs, beeps_before, strict=True):
        assert tab.page.evaluate("window.Eldercare.beeps") == before + 1  # the sound cue played
        expect(tab.page.locator(f"#incident-{incident_id} .q-priority")).to_have_text("生命安全")

    first, second = tabs
    # The age moves on every second, in place: the row (and the button the operator is about to press) stays.
    held = first.page.locator(f"#incident-{incident_id}").element_handle()
    age = held.query_selector(".q-age").text_content()
    first.page.wait_for_function("([row, age]) => row.querySelector('.q-age').textContent !== age", arg=[held, age],
                                 timeout=5000)
    assert held.evaluate("row => row.isConnected")
    first.page.locator(f"#incident-{incident_id} button.claim").click()
    expect(first.page.locator(f"#incident-{incident_id} .q-status")).to_have_text("我的")
    screen = first.page.locator("#screen")  # the resident's record pops up for the claiming operator
    expect(screen).to_be_visible()
    expect(screen).to_have_attribute("data-incident-id", str(incident_id))
    expect(screen.locator("#screen-title")).to_contain_text(f"#{incident_id}")
    expect(screen.locator(".screen-section")).to_have_count(6)
    expect(second.page.locator("#screen")).to_be_hidden()
    expect(second.page.locator(f"#incident-{incident_id} .q-status")).to_contain_text("已由")
    expect(second.page.locator(f"#incident-{incident_id} button.claim")).to_have_count(0)

    # A claim that loses the race is refused with a clear message (the API decides, not the page).
    result = second.page.evaluate(
        f"window.Eldercare.api('POST', '/api/v1/incidents/{incident_id}/claim', {{}}).then(r => r.status)")
    assert result == 409
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    first.page.screenshot(path=str(SCREENSHOTS / "ops-queue.png"), full_page=True)
    for tab in tabs:
        assert tab.errors == []
