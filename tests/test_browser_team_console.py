"""The emergency team's console in headless Chromium (a phone), with an operator dispatching from the
operator console, against the real server and Celery worker: duty off and on; a call-out appears live with
its sound and the acknowledgement countdown; acknowledge and every state change reach the operator's
screen-pop at once, and the team's own state follows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.test_browser_operator_flow import device_token, expect, logged_in, send_alarm

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def only_team_one(migrated_db: str) -> Iterator[None]:
    """Team 1 (the demo account team1's) is the only one available, so it is the nearest; the teams' states
    are put back afterwards for the tests that share this database."""
    engine = sa.create_engine(migrated_db)
    with engine.begin() as conn:
        saved = conn.execute(sa.text("SELECT id, state FROM emergency_teams")).all()
        conn.execute(sa.text("UPDATE emergency_teams SET state = CASE WHEN id = 1 THEN 'available'"
                             " ELSE 'off_duty' END"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for team_id, state in saved:
                conn.execute(sa.text("UPDATE emergency_teams SET state = :s WHERE id = :i"), {"s": state, "i": team_id})
        engine.dispose()


def test_callout_acknowledged_and_followed_live(console, live_server, celery_worker, migrated_db, only_team_one):
    team = console(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    team.log_in("team1")
    phone = team.page
    expect(phone.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(phone.locator("#team-state")).to_have_text("待命")
    phone.locator("#duty-toggle").tap()  # also the user gesture that lets the page play sound
    expect(phone.locator("#team-state")).to_have_text("下班")
    expect(phone.locator("#duty-toggle")).to_have_text("上班（开始值守）")
    phone.locator("#duty-toggle").tap()
    expect(phone.locator("#team-state")).to_have_text("待命")
    expect(phone.locator("#callouts-empty")).to_be_visible()

    operator = logged_in(console, "operator1")
    page = operator.page
    incident_id = send_alarm(live_server, device_token(migrated_db, 21), "fall")
    page.locator(f"#incident-{incident_id} button.claim").click()
    expect(page.locator("#screen")).to_have_attribute("data-incident-id", str(incident_id))
    page.get_by_role("button", name="派遣最近的应急小组").click()
    on_screen = page.locator("#dispatch-list li")
    expect(on_screen).to_have_count(1)
    expect(on_screen).to_have_attribute("data-state", "called")
    expect(on_screen).to_contain_text("已呼叫，等待确认")

    # The call-out reaches the team's phone without a reload, with its sound and countdown.
    callout = phone.locator(".callout")
    expect(callout).to_have_count(1)
    expect(callout).to_have_attribute("data-state", "called")
    expect(callout.locator("h3")).to_have_text(f"跌倒 · 报警 #{incident_id}")
    assert phone.evaluate("window.Eldercare.callouts") == 1
    expect(phone.locator("#team-state")).to_have_text("已派出")
    countdown = callout.locator(".callout-countdown")
    expect(countdown).to_have_text(re.compile(r"^请在 \d+ 秒内确认$"))
    seconds = int(re.search(r"\d+", countdown.text_content()).group())
    assert 40 <= seconds <= 60
    expect(countdown).not_to_have_text(f"请在 {seconds} 秒内确认")  # it counts down
    address = requests.get(f"{live_server.url}/api/v1/incidents/{incident_id}/screen", timeout=10, headers={
        "Authorization": f"Bearer {live_server.token('supervisor1')}"}).json()["household"]["address"]
    expect(callout.locator(".callout-where")).to_contain_text(address)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "team-console.png"), full_page=True)

    callout.get_by_role("button", name="确认接单").tap()
    expect(callout).to_have_attribute("data-state", "acknowledged")
    expect(on_screen).to_have_attribute("data-state", "acknowledged")  # live on the operator's screen
    for button, state, team_state in (("出发", "en_route", "前往途中"), ("已到现场", "on_scene", "已到现场"),
                                      ("返回途中", "returning", "返回途中"), ("已完成", "done", "待命")):
        callout.get_by_role("button", name=button, exact=True).tap()
        expect(callout).to_have_attribute("data-state", state)
        expect(on_screen).to_have_attribute("data-state", state)
        expect(phone.locator("#team-state")).to_have_text(team_state)
    expect(callout.locator("button")).to_have_count(0)  # nothing left to report

    # The operator ends the incident: the team attended.
    page.locator("#outcome").select_option("team_dispatched")
    page.locator("#resolve-button").click()
    expect(page.locator("#close-incident")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # usable on a phone
    assert not (team.errors or operator.errors)
