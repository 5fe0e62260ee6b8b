"""The device registry's console in headless Chromium against the real server: an administrator registers an HTTP
device and sees its token once; a CSV file with a bad row is refused whole, row error shown; fixed, it imports."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.e2e]

HEADER = "uid,protocol,household_code,model,phone,aes_key,heartbeat_interval_s"


def expect(locator: object) -> object:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def household_codes(database_url: str, count: int) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.text("SELECT code FROM households WHERE active ORDER BY id LIMIT :n"),
                                     {"n": count}))
    finally:
        engine.dispose()


def devices_matching(live_server: object, text: str) -> list[dict]:
    headers = {"Authorization": f"Bearer {live_server.token('admin')}"}
    response = requests.get(f"{live_server.url}/api/v1/devices", params={"q": text, "per_page": 100},
                            headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()["items"]


def post_event(live_server: object, token: str) -> int:
    body = {"event_id": "browser-test", "type": "test", "occurred_at": "2026-01-01T08:00:00+08:00"}
    return requests.post(f"{live_server.url}/api/v1/device-events", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture
def run_id(live_server: object) -> Iterator[str]:
    """A suffix for this test's device ids. Its devices are retired afterwards: they are committed to the shared
    database, and unit tests pick the newest active device of a protocol as theirs."""
    run = f"{int(time.time() * 1000) % 10**9:09d}"
    yield run
    headers = {"Authorization": f"Bearer {live_server.token('admin')}"}
    for device in devices_matching(live_server, run):
        requests.post(f"{live_server.url}/api/v1/devices/{device['id']}/retire", headers=headers, timeout=10,
                      json={"reason": "browser test"}).raise_for_status()


def test_admin_registers_an_http_device_and_sees_its_token_once(console, live_server, migrated_db, run_id):
    [home] = household_codes(migrated_db, 1)
    uid = f"br-hub-{run_id}"
    tab = console(permissions=["clipboard-read", "clipboard-write"])
    page = tab.page
    tab.log_in("admin")
    page.locator("#nav-devices").click()
    expect(page.locator("#page-title")).to_have_text("设备管理")
    page.keyboard.press("n")  # the shortcut opens the register form
    expect(page.locator("#page-title")).to_have_text("登记设备")
    expect(page.locator("#protocol")).to_be_focused()

    page.locator("#protocol").select_option("http")
    expect(page.locator("#aes_key")).to_be_hidden()  # DC-09 only
    expect(page.locator("#uid-hint")).to_contain_text("任意唯一编号")
    page.locator("#uid").fill(uid)
    page.locator("#household_code").fill(home)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    box = page.locator("#token-box")
    expect(box).to_be_visible()
    expect(box.locator("h2")).to_have_text("设备令牌——仅显示这一次")
    token = page.locator("#token-value").input_value()
    assert re.fullmatch(r"d\d+\.[A-Za-z0-9_-]{20,}", token)
    expect(page.locator("#token-copy")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#token-status")).to_have_text("已复制。")
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert post_event(live_server, token) == 202  # the token works

    page.locator("#token-dismiss").click()
    expect(box).to_have_count(0)
    [device] = devices_matching(live_server, uid)
    assert page.url == f"{live_server.url}/admin/devices/{device['id']}"  # Reload must not post the form again
    page.reload()
    expect(page.locator("#token-box")).to_have_count(0)
    assert token not in page.content()  # shown once: never again
    expect(page.locator("#detail-token")).to_have_text("已签发（仅保存哈希值）")
    assert device["household_code"] == home and device["has_token"] is True
    assert not tab.errors


def test_csv_import_refuses_a_bad_row_then_imports_the_fixed_file(console, live_server, migrated_db, run_id):
    homes = household_codes(migrated_db, 3)
    prefix = f"9{run_id}"  # watch ids: digits only
    good = [f"{prefix}1,watch,{homes[0]},GW-S6,,,", f"imp-{run_id},http,{homes[1]},EC-HUB2,,,",
            f"{prefix}3,watch,{homes[2]},,13900001234,,"]
    broken = [good[0], f"{prefix}2,watch,NO-SUCH-HOME,,,,", *good[1:]]
    tab = console()
    page = tab.page
    tab.log_in("admin")
    page.goto("/admin/devices/")
    page.keyboard.press("i")
    expect(page.locator("#page-title")).to_have_text("批量导入设备")
    page.evaluate("""() => {
        const box = document.getElementById('import-progress-box');
        window.progressShown = false;
        new MutationObserver(() => { if (!box.hidden) window.progressShown = true; })
            .observe(box, {attributes: true});
    }""")

    def upload(rows: list[str]) -> None:
        body = ("\n".join([HEADER, *rows]) + "\n").encode()
        page.locator("#import-file").set_input_files(files=[{"name": "devices.csv", "mimeType": "text/csv",
                                                            "buffer": body}])
        page.get_by_role("button", name="检查并导入").click()

    upload(broken)
    errors = page.locator("#import-errors")
    expect(errors).to_be_visible()
    expect(page.locator("#errors-title")).to_have_text("1 行有错误，未导入任何设备。")
    expect(page.locator("#errors-title")).to_be_focused()
    rows = page.locator("#row-errors tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td")).to_have_text(["3", "户号", "没有这个户号。"])
    assert page.evaluate("window.progressShown") is True
    assert devices_matching(live_server, prefix) == [] and devices_matching(live_server, f"imp-{run_id}") == []

    upload(good)
    expect(page.locator("#import-done")).to_be_visible()
    expect(page.locator("#done-title")).to_have_text("已导入 3 台设备。")
    expect(errors).to_be_hidden()
    tokens = page.locator("#tokens-table tbody tr")
    expect(tokens).to_have_count(1)
    expect(tokens.first.locator("td").nth(1)).to_have_text(f"imp-{run_id}")
    token = tokens.first.locator("td").nth(2).inner_text().split()[0]
    with page.expect_download() as download:
        page.locator("#tokens-download").click()
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert saved.splitlines()[0] == "line,id,uid,token" and token in saved
    assert post_event(live_server, token) == 202
    imported = devices_matching(live_server, prefix)
    assert sorted(d["uid"] for d in imported) == [f"{prefix}1", f"{prefix}3"]
    assert {d["phone"] for d in imported} == {None, "+8613900001234"}
    assert not tab.errors
