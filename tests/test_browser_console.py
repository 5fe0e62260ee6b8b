"""The consoles in headless Chromium against the real server (gunicorn, Redis, Celery worker)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"


def expect(locator: object) -> object:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def api_total(live_server: object, path: str) -> int:
    headers = {"Authorization": f"Bearer {live_server.token('operator1')}"}
    response = requests.get(f"{live_server.url}{path}?per_page=1", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()["total"]


def provider_of(database_url: str, username: str) -> tuple[int, str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(sa.text(
                "SELECT p.id, p.name_zh FROM users u JOIN providers p ON p.id = u.provider_id"
                " WHERE u.username = :username"), {"username": username}).one())
    finally:
        engine.dispose()


def expect_connected(tab: object, label: str) -> None:
    indicator = tab.page.locator("#conn")
    expect(indicator).to_have_attribute("data-state", "connected")
    expect(indicator).to_have_text(label)


def test_login_language_switch_and_operator_home(console, live_server):
    tab = console()
    sockets = []
    tab.page.on("websocket", lambda socket: sockets.append(socket.url))
    page = tab.page
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")
    expect(page.locator("#username")).to_be_focused()

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.get_by_label("Username")).to_be_visible()

    tab.log_in("operator1")
    assert page.url == f"{live_server.url}/ops/"
    expect(page).to_have_title(re.compile("^Operator console"))
    expect(page.locator("#page-title")).to_have_text("Operator console")
    expect(page.locator("#current-role")).to_have_text("Operator")
    expect_connected(tab, "Connected")
    expect(page.locator("#count-districts")).to_have_text(str(api_total(live_server, "/api/v1/districts")))
    expect(page.locator("#count-teams")).to_have_text(str(api_total(live_server, "/api/v1/teams")))
    expect(page.locator("#notice-form")).to_have_count(0)
    assert sockets and all("/socket.io/" in url and "transport=websocket" in url for url in sockets)

    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    page.get_by_role("button", name="Log out").click()
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator(".flash")).to_have_text("You have logged out.")
    assert not tab.errors


def test_provider_staff_reach_their_company_console(console, live_server, migrated_db):
    _, company = provider_of(migrated_db, "provider1")
    tab = console(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    tab.log_in("provider1")
    page = tab.page
    assert page.url == f"{live_server.url}/provider/"
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#page-title")).to_have_text("服务商工作台")
    expect(page.locator("#affiliation-name")).to_have_text(company)
    expect_connected(tab, "已连接")
    # Usable on a phone: nothing wider than the screen, once the lists have loaded (a machine under load may
    # catch the page mid-layout).
    page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=5000)
    assert not tab.errors


def test_notice_from_a_supervisor_reaches_operators_and_a_company_live(console, live_server, migrated_db,
                                                                       celery_worker):
    provider_id, _ = provider_of(migrated_db, "provider1")
    operator, supervisor, provider = console(), console(), console()
    for tab, username in ((operator, "operator1"), (supervisor, "supervisor1"), (provider, "provider1")):
        tab.log_in(username)
        expect_connected(tab, "已连接")

    text = "大雪天气，今晚上门服务可能延迟，请提前告知老人。"
    page = supervisor.page
    page.keyboard.press("n")  # the shortcut focuses the notice box
    expect(page.locator("#notice-text")).to_be_focused()
    page.keyboard.type(text)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#notice-status")).to_have_text("通知已发送。")

    received = operator.page.locator("#notices .notice-text", has_text=text)
    expect(received).to_have_count(1)
    expect(operator.page.locator("#notices .notice-audience").first).to_have_text("全体话务员")
    expect(operator.page.locator("#notices .notice-sender").first).to_have_text("发送人：supervisor1")
    expect(operator.page.locator("#notices-empty")).to_be_hidden()
    expect(page.locator("#notices .notice-text", has_text=text)).to_have_count(1)  # supervisors are operators too

    company_text = "请核对明日上门排班。"
    page.locator("#notice-audience").select_option(f"provider:{provider_id}")
    page.locator("#notice-text").fill(company_text)
    page.get_by_role("button", name="发送", exact=True).click()
    expect(provider.page.locator("#notices .notice-text", has_text=company_text)).to_have_count(1)
    expect(provider.page.locator("#notices .notice-text", has_text=text)).to_have_count(0)  # not its audience
    expect(operator.page.locator("#notices .notice-text", has_text=company_text)).to_have_count(0)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    operator.page.set_viewport_size({"width": 1280, "height": 800})
    operator.page.screenshot(path=str(SCREENSHOTS / "ops-home.png"), full_page=True)
    assert not (operator.errors or supervisor.errors or provider.errors)
