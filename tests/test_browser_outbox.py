"""A whole cascade on the embedded defaults (no Twilio account, in-process worker): the operator starts it
from the screen-pop, the SMS appears in the outbox page, "simulate reply" answers it, and the operator's
cascade panel shows the contact going — live, in headless Chromium, on both pages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa

from tests.helpers import http_home_with_one_contact
from tests.live import BIN, LiveServer, free_port, process_env, start, stop, wait_http

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CONTACT = "+8613688887777"


@pytest.fixture(scope="module")
def outbox_server(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`flask serve` in embedded mode (in-process worker, SQLite broker) with no Twilio account: the outbox."""
    instance = tmp_path_factory.mktemp("outbox-instance")
    port = free_port()
    env = process_env(migrated_db, instance, ELDERCARE_HTTP_PORT=str(port))
    for key in ("REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_FROM_NUMBER", "ELDERCARE_TWILIO_API_BASE"):
        env.pop(key)
    log = instance / "server.log"
    proc = start([str(BIN / "flask"), "--app", "eldercare", "serve", "--no-demo"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", proc, log)
        yield LiveServer(url, port, proc, log)
    finally:
        stop(proc)


@pytest.fixture
def alarm_home(migrated_db):
    engine = sa.create_engine(migrated_db)
    token, _ = http_home_with_one_contact(engine, offset=13, phone=CONTACT, name="李建国")
    yield token
    engine.dispose()

def expect(locator: object) -> object:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def open_tab(browser, server: LiveServer, username: str):
    from tests.browser import TIMEOUT_MS, Console

    context = browser.new_context(base_url=server.url, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    tab = Console(context.new_page())
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.log_in(username)
    return tab


def test_a_cascade_answered_from_the_outbox(browser, outbox_server, alarm_home):
    operator = open_tab(browser, outbox_server, "supervisor1")
    expect(operator.page.locator("#conn")).to_have_attribute("data-state", "connected")
    posted = requests.post(f"{outbox_server.url}/api/v1/device-events", timeout=10,
                           headers={"Authorization": f"Bearer {alarm_home}"},
                           json={"event_id": f"outbox-{time.time()}", "type": "fall",
                                 "occurred_at": datetime.now(UTC).isoformat()})
    assert posted.status_code == 202, posted.text
    incident_id = posted.json()["incident_id"]
    operator.page.locator(f"#incident-{incident_id} button.claim").click()
    panel = operator.page.locator("#cascade-panel")
    expect(panel).to_be_visible()
    expect(operator.page.locator("#cascade-empty")).to_be_visible()
    operator.page.locator("#cascade-start").click()
    first = panel.locator(".cascade-step").first
    expect(first).to_have_attribute("data-state", "active")
    expect(first).to_contain_text("李建国")
    expect(first).to_contain_text("短信")
    expect(operator.page.locator("#cascade-stop")).to_be_visible()

    outbox = open_tab(browser, outbox_server, "supervisor1")
    outbox.page.goto("/admin/outbox/")
    row = outbox.page.locator("#outbox-rows tr", has_text=CONTACT).first
    expect(row).to_have_attribute("data-state", "sent")  # the in-process worker "sent" it to the outbox
    expect(row).to_contain_text("触发跌倒报警")
    row.locator("[data-action=simulate-reply]").click()
    expect(outbox.page.locator(".flash")).to_contain_text("已确认")
    expect(outbox.page.locator("#outbox-rows tr", has_text=CONTACT).first).to_have_attribute(
        "data-state", "acknowledged")

    expect(first).to_have_attribute("data-state", "acknowledged")  # live on the operator's screen
    expect(first).to_contain_text("正在前往")
    expect(operator.page.locator("#cascade-stop")).to_be_hidden()
    for tab in (operator, outbox):
        assert tab.errors == []
        tab.page.context.close()
