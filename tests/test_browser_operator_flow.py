"""One alarm from the device to the KPIs through the operator console, in headless Chromium against the real
server and a real Celery worker (issue 4): two operators logged in; a device alarm appears on both screens
within a second without a reload, with the sound cue; one claims it and the other sees it claimed at once;
the holder records the action plan's steps (keyboard and mouse), hands the incident over, the other
operator chooses the outcome and closes it; the alarm KPIs count it. Also: hold and release from the
screen-pop put the alarm back in everyone's queue, and a service referral asks for the service type."""

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

ROOT = Path(__file__).resolve().parent.parent


def expect(locator: object) -> object:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def device_token(database_url: str, offset: int) -> str:
    """A fresh token for an HTTP device of a home without an open incident (offsets keep tests apart)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            device_id = conn.execute(sa.text(
                "SELECT d.id FROM devices d WHERE d.protocol = 'http' AND d.status = 'active' AND NOT EXISTS"
                " (SELECT 1 FROM incidents i WHERE i.household_id = d.household_id AND i.status IN"
                " ('new', 'claimed', 'in_progress', 'on_hold', 'dispatched', 'escalated'))"
                " ORDER BY d.id OFFSET :offset LIMIT 1"), {"offset": offset}).scalar_one()
            token, token_hash = tokens.new_token(device_id)
            conn.execute(sa.text("UPDATE devices SET token_hash = :h WHERE id = :d"), {"h": token_hash, "d": device_id})
    finally:
        engine.dispose()
    return token


def user_id(database_url: str, username: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar_one()
    finally:
        engine.dispose()


def send_alarm(live_server: object, token: str, type_: str = "sos") -> int:
    response = requests.post(f"{live_server.url}/api/v1/device-events", timeout=10,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"event_id": f"flow-{time.time()}", "type": type_,
                                   "occurred_at": datetime.now(UTC).isoformat()})
    assert response.status_code == 202, response.text
    return response.json()["incident_id"]


def kpis(live_server: object) -> dict:
    response = requests.get(f"{live_server.url}/api/v1/kpis/alarms", timeout=10,
                            headers={"Authorization": f"Bearer {live_server.token('supervisor1')}"})
    response.raise_for_status()
    return response.json()["overall"]


def logged_in(console: object, username: str) -> object:
    tab = console(viewport={"width": 1280, "height": 900})
    tab.log_in(username)
    expect(tab.page.locator("#conn")).to_have_attribute("data-state", "connected")
    tab.page.keyboard.press("Shift")  # a user gesture: browsers start audio only after one
    return tab


def test_alarm_to_outcome_through_the_console(console, live_server, celery_worker, migrated_db):
    token = device_token(migrated_db, 13)
    first, second = logged_in(console, "operator1"), logged_in(console, "operator2")
    before = kpis(live_server)
    beeps = [tab.page.evaluate("window.Eldercare.beeps") for tab in (first, second)]

    sent = time.monotonic()
    incident_id = send_alarm(live_server, token)
    for tab in (first, second):
        expect(tab.page.locator(f"#incident-{incident_id}")).to_be_visible(timeout=1000)
    assert time.monotonic() - sent < 1.5
    assert [tab.page.evaluate("window.Eldercare.beeps") for tab in (first, second)] == [b + 1 for b in beeps]

    # operator1 claims; operator2 sees it claimed at once and cannot claim it.
    page = first.page
    page.locator(f"#incident-{incident_id} button.claim").click()
    expect(second.page.locator(f"#incident-{incident_id} .q-status")).to_contain_text("已由")
    expect(second.page.locator(f"#incident-{incident_id} button.claim")).to_have_count(0)
    screen = page.locator("#screen")
    expect(screen).to_have_attribute("data-incident-id", str(incident_id))
    steps = page.locator("#plan-steps .plan-step")
    expect(steps).to_have_count(5)  # an SOS: resident, contacts, grid leader, team, 120/110
    expect(steps.nth(0)).to_contain_text("回拨老人")
    expect(steps.nth(4)).to_contain_text("拨打急救/报警/火警电话")

    # Step 1 by keyboard only: its number focuses the result, Tab to the notes, Enter saves.
    page.locator("#page-title").click()  # focus out of any field, as after reading the record
    page.keyboard.press("1")
    result = page.locator("#step-form-1 select[name=result]")
    expect(result).to_be_focused()
    result.select_option("no_answer")
    page.keyboard.press("Tab")
    expect(page.locator("#step-form-1 input[name=notes]")).to_be_focused()
    page.keyboard.type("响铃十声无人接")
    page.keyboard.press("Enter")
    expect(steps.nth(0)).to_have_attribute("data-done", "true")
    expect(steps.nth(0).locator(".step-result")).to_contain_text("无人接听 · 响铃十声无人接")
    expect(page.locator(f"#incident-{incident_id}")).to_have_attribute("data-status", "in_progress")

    # Steps 2 and 3 with the mouse: a contact answers and goes there; the grid leader too.
    page.locator("#step-form-2 select[name=result]").select_option("attending")
    page.locator("#step-form-2 input[name=notes]").fill("女儿十分钟后到")
    page.locator("#step-form-2 button[type=submit]").click()
    expect(steps.nth(1)).to_have_attribute("data-done", "true")
    page.keyboard.press("3")
    page.locator("#step-form-3 select[name=result]").select_option("attending")
    page.keyboard.press("Enter")  # Enter on the choice saves too
    expect(steps.nth(2)).to_have_attribute("data-done", "true")
    expect(steps.nth(3)).to_have_attribute("data-done", "false")
    expect(page.locator("#dispatch-empty")).to_be_visible()
    page.screenshot(path=str(ROOT / "docs" / "console.png"), full_page=True)

    # Hand-over to operator2: operator1's screen closes, operator2 holds it and opens its screen.
    page.locator("#handover-to").select_option(str(user_id(migrated_db, "operator2")))
    page.get_by_role("button", name="转交", exact=True).click()
    expect(screen).to_be_hidden()
    expect(page.locator("#queue-message")).to_contain_text("已转交给")
    other = second.page
    expect(other.locator(f"#incident-{incident_id} .q-status")).to_have_text("我的")
    other.locator(f"#incident-{incident_id} button.open").click()
    expect(other.locator("#screen")).to_have_attribute("data-incident-id", str(incident_id))
    expect(other.locator("#plan-steps .plan-step[data-done=true]")).to_have_count(3)  # the record moved with it

    # The outcome: the server's field error for a missing choice, then family attended with a follow-up.
    expect(other.locator("#close-incident")).to_be_hidden()
    expect(other.locator("#service-type-field")).to_be_hidden()
    other.locator("#resolve-button").click()
    expect(other.locator("#outcome-error")).not_to_be_empty()
    other.locator("#page-title").click()
    other.keyboard.press("o")
    expect(other.locator("#outcome")).to_be_focused()
    other.locator("#outcome").select_option("family_attended")
    other.locator("#follow-up").check()
    other.locator("#outcome-notes").fill("女儿已到，老人无大碍，明日回访")
    other.locator("#resolve-button").click()
    expect(other.locator("#close-incident")).to_be_visible()
    for tab in (first, second):  # resolved: off every queue at once
        expect(tab.page.locator(f"#incident-{incident_id}")).to_have_count(0)
    other.locator("#close-incident").click()
    expect(other.locator("#screen-status")).to_have_text("报警已结案。")

    detail = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}", timeout=10,
                          headers={"Authorization": f"Bearer {live_server.token('supervisor1')}"}).json()
    assert (detail["status"], detail["outcome"], detail["claimed_by"]) == (
        "closed", "family_attended", user_id(migrated_db, "operator2"))
    reasons = [entry["reason"] for entry in detail["history"]]
    assert "handed over to operator2" in reasons and "resolved: family_attended" in reasons

    after = kpis(live_server)
    assert after["alarms"] == before["alarms"] + 1
    assert after["answered"] == before["answered"] + 1
    for figure in ("time_to_claim", "time_to_first_action", "time_to_resolution"):
        assert after[figure]["count"] == before[figure]["count"] + 1, figure
    assert not (first.errors or second.errors)


def test_hold_and_release_from_the_screen_put_the_alarm_back(console, live_server, celery_worker, migrated_db):
    token = device_token(migrated_db, 17)
    holder, watcher = logged_in(console, "operator1"), logged_in(console, "supervisor1")
    incident_id = send_alarm(live_server, token, "fall")
    page = holder.page
    page.locator(f"#incident-{incident_id} button.claim").click()
    expect(page.locator("#screen")).to_be_visible()

    page.locator("#hold-minutes").fill("10")
    page.get_by_role("button", name="挂起", exact=True).click()
    expect(page.locator("#screen")).to_be_hidden()
    expect(page.locator("#queue-message")).to_have_text("已挂起：10 分钟后回到报警队列。")
    expect(watcher.page.locator(f"#incident-{incident_id}")).to_have_attribute("data-status", "on_hold")

    page.locator(f"#incident-{incident_id} button.open").click()  # resume it: claimed again, screen back
    expect(page.locator("#screen")).to_have_attribute("data-incident-id", str(incident_id))
    expect(watcher.page.locator(f"#incident-{incident_id}")).to_have_attribute("data-status", "claimed")
    page.get_by_role("button", name="放回队列").click()
    expect(page.locator("#screen")).to_be_hidden()
    expect(watcher.page.locator(f"#incident-{incident_id}")).to_have_attribute("data-status", "new")
    expect(watcher.page.locator(f"#incident-{incident_id} button.claim")).to_be_visible()

    # The supervisor claims it and refers the resident to a service: the referral asks for the service type.
    other = watcher.page
    other.locator(f"#incident-{incident_id} button.claim").click()
    other.locator("#outcome").select_option("service_referral")
    expect(other.locator("#service-type-field")).to_be_visible()
    expect(other.locator("#service-type option").first).to_be_attached()  # loaded from the catalogue
    code = other.locator("#service-type option").first.get_attribute("value")
    other.locator("#service-type").select_option(code)
    other.locator("#resolve-button").click()
    expect(other.locator("#close-incident")).to_be_visible()
    expect(page.locator(f"#incident-{incident_id}")).to_have_count(0)
    detail = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}", timeout=10,
                          headers={"Authorization": f"Bearer {live_server.token('supervisor1')}"}).json()
    assert (detail["status"], detail["outcome"]) == ("resolved", "service_referral")
    assert not (holder.errors or watcher.errors)
