"""The order page in headless Chromium on the live server with a real Celery worker (issue 6, items 1, 4, 8):
an operator finds a household by typing part of its phone number, picks a service by its pinyin initials
and places the order with the keyboard; the status and the ranking explanation appear, and the provider's
acceptance (through the API, as its staff) shows without a reload; the job's end puts a follow-up call on
the list and the operator records it. A supervisor assigns an escalated order by hand. A device's green
"service" key makes a call-back task appear live, which fills the order form."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from eldercare.core.time import CITY_TZ
from eldercare.devices import tokens
from tests.dispatch_helpers import next_local

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SERVICE_ZH = "日常保洁"  # typed as its pinyin initials
COVERED = sa.text(
    "SELECT pc.community_id, count(*) AS n FROM provider_coverage pc JOIN providers p ON p.id = pc.provider_id"
    " JOIN provider_service_types pst ON pst.provider_id = p.id WHERE pst.service_type_id = :t"
    " AND p.status = 'active' GROUP BY pc.community_id")


# A community and a service nobody covering it is open for at 03:00 on a Wednesday (an order then escalates).
NIGHT_ONLY = sa.text(
    "SELECT c.id AS community_id, st.code FROM communities c CROSS JOIN service_types st WHERE st.active AND EXISTS"
    " (SELECT 1 FROM provider_service_types pst JOIN providers p ON p.id = pst.provider_id JOIN provider_coverage pc"
    "  ON pc.provider_id = p.id WHERE pst.service_type_id = st.id AND pc.community_id = c.id AND p.status = 'active')"
    " AND NOT EXISTS (SELECT 1 FROM provider_service_types pst JOIN providers p ON p.id = pst.provider_id"
    "  JOIN provider_coverage pc ON pc.provider_id = p.id JOIN provider_hours ph ON ph.provider_id = p.id"
    "  WHERE pst.service_type_id = st.id AND pc.community_id = c.id AND p.status = 'active' AND ph.weekday = 2"
    "  AND ph.opens_at <= '03:00') ORDER BY st.id, c.id LIMIT 1")


def expect(locator: object) -> object:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture
def scene(migrated_db):
    """The demo rows the test works with: a well-served household with a phone, a household no company
    covers for some service (its order escalates), and an HTTP device (fresh token) of a third home."""
    engine = sa.create_engine(migrated_db)
    with engine.begin() as conn:
        type_id, code = conn.execute(sa.text("SELECT id, code FROM service_types WHERE name_zh = :n"),
                                     {"n": SERVICE_ZH}).one()
        household = conn.execute(sa.text(
            f"SELECT h.id, h.phone FROM households h JOIN ({COVERED.text}) c ON c.community_id = h.community_id"  # noqa: S608 - constant SQL
            " WHERE h.active AND h.phone IS NOT NULL AND c.n >= 3 AND NOT EXISTS (SELECT 1 FROM orders o"
            " WHERE o.household_id = h.id) ORDER BY c.n DESC, h.id OFFSET 5 LIMIT 1"), {"t": type_id}).one()
        lonely = conn.execute(NIGHT_ONLY).one()
        lonely_home = conn.execute(sa.text("SELECT id FROM households WHERE community_id = :c AND active"
                                           " ORDER BY id DESC LIMIT 1"), {"c": lonely.community_id}).scalar_one()
        device_id, device_home = conn.execute(sa.text(
            "SELECT d.id, d.household_id FROM devices d WHERE d.protocol = 'http' AND d.status = 'active'"
            " AND d.household_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM callback_tasks c WHERE"
            " c.household_id = d.household_id AND c.status = 'pending') ORDER BY d.id OFFSET 23 LIMIT 1")).one()
        token, token_hash = tokens.new_token(device_id)
        conn.execute(sa.text("UPDATE devices SET token_hash = :h WHERE id = :d"), {"h": token_hash, "d": device_id})
    yield {"code": code, "household": household, "lonely": (lonely_home, lonely.code),
           "device": (token, device_home), "engine": engine}
    engine.dispose()


def api(live_server, token: str, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(method, f"{live_server.url}/api/v1{path}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})


def staff_token(live_server, provider_id: int) -> str:
    """A provider_staff account of the company, made by the admin through the API."""
    username = f"orders-e2e-{provider_id}-{int(time.time() * 1000)}"
    created = api(live_server, live_server.token("admin"), "POST", "/users",
                  {"username": username, "password": "e2e-staff-pw", "role": "provider_staff",
                   "provider_id": provider_id})
    assert created.status_code == 201, created.text
    return live_server.token(username, "e2e-staff-pw")


def pick(page, results: str, attribute: str, value: object) -> None:
    """Arrow down to the option carrying `attribute`=`value` in a pick list, then Enter."""
    option = page.locator(f'#{results} li[{attribute}="{value}"]')
    expect(option).to_be_visible()
    index = page.locator(f"#{results} li").evaluate_all(
        f"(items, v) => items.findIndex(li => li.getAttribute('{attribute}') === String(v))", value)
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")


def test_operator_takes_an_order_and_follows_it_live(console, live_server, celery_worker, scene):
    household_id, phone = scene["household"]
    operator = console()
    operator.log_in("operator1")
    operator.page.locator("#nav-orders").click()
    page = operator.page
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    page.evaluate("window.__sameDocument = true")

    # Keyboard only: "/" to the household search, part of the phone number, arrows and Enter.
    page.keyboard.press("/")
    expect(page.locator("#household-q")).to_be_focused()
    page.keyboard.type("".join(ch for ch in phone if ch.isdigit())[-7:])
    pick(page, "household-results", "data-household-id", household_id)
    expect(page.locator("#household-picked")).to_have_attribute("data-household-id", str(household_id))
    page.keyboard.press("Tab")  # on to the service search
    expect(page.locator("#service-q")).to_be_focused()
    page.keyboard.type("rcbj")
    pick(page, "service-results", "data-code", scene["code"])
    expect(page.locator("#service-picked")).to_contain_text(SERVICE_ZH)
    expect(page.locator("#price-line")).to_contain_text("元")

    when = next_local().astimezone(CITY_TZ)
    page.locator("#when-scheduled").check()
    page.locator("#sched-date").fill(when.strftime("%Y-%m-%d"))
    page.locator("#sched-time").fill(when.strftime("%H:%M"))
    page.locator("#order-notes").fill("老人腿脚不便，请提前电话联系")
    page.keyboard.press("Control+Enter")

    result = page.locator("#order-result")
    expect(result).to_be_visible()
    expect(page.locator("#result-status")).to_have_attribute("data-status", "offered")
    expect(page.locator("#result-status")).to_have_text("已派单")
    order_id = int(result.get_attribute("data-order-id"))
    expect(page.locator("#candidates-body tr").first).to_be_visible()
    expect(page.locator("#result-offers li").first).to_contain_text("等待答复")
    expect(page.locator("#result-price")).to_contain_text("元")
    expect(page.locator(f"#order-row-{order_id}")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ops-orders.png"), full_page=True)

    # The scorecard of a ranked provider, from the ranking table.
    page.locator("#candidates-body tr").first.locator("button.scorecard-open").click()
    expect(page.locator("#scorecard")).to_be_visible()
    expect(page.locator('#scorecard-facts dd[data-fact="rating_bayesian"]')).not_to_have_text("")
    page.locator("#scorecard button").click()

    # The offered company's staff accepts through the API: the page shows it without a reload.
    operator_token = live_server.token("operator1")
    order = api(live_server, operator_token, "GET", f"/orders/{order_id}").json()
    [offer] = [o for o in order["offers"] if o["status"] == "pending"]
    staff = staff_token(live_server, offer["provider_id"])
    assert api(live_server, staff, "POST", f"/offers/{offer['id']}/accept").status_code == 200
    expect(page.locator("#result-status")).to_have_attribute("data-status", "accepted")
    expect(page.locator("#result-status")).to_have_text("已接单")
    expect(page.locator(f"#offer-{offer['id']}")).to_have_attribute("data-status", "accepted")
    expect(page.locator(f"#order-row-{order_id}")).to_have_attribute("data-status", "accepted")
    assert page.evaluate("window.__sameDocument") is True

    # The job runs to its end: the follow-up call reaches the operator's list, who records it.
    with scene["engine"].connect() as conn:
        worker_id = conn.execute(sa.text("SELECT id FROM provider_workers WHERE provider_id = :p AND active"
                                         " ORDER BY id LIMIT 1"), {"p": offer["provider_id"]}).scalar_one()
    for path, body in ((f"/jobs/{order_id}/worker", {"worker_id": worker_id}), (f"/jobs/{order_id}/en-route", None),
                       (f"/jobs/{order_id}/arrived", None), (f"/jobs/{order_id}/complete", {"duration_minutes": 90})):
        assert api(live_server, staff, "POST", path, body).status_code == 200, path
    expect(page.locator("#result-status")).to_have_attribute("data-status", "completed")
    follow_ups = api(live_server, operator_token, "GET", "/follow-ups?per_page=500").json()["items"]
    [follow_up] = [f for f in follow_ups if f["order_id"] == order_id]
    row = page.locator(f"#followup-{follow_up['id']}")
    expect(row).to_be_visible()
    row.locator("button.fu-household").click()  # whom to call
    expect(row.locator(".fu-whom")).to_contain_text(phone)
    row.locator("button.fu-record").click()
    expect(page.locator("#followups-status")).to_have_text("请给出评分。")  # a rating is required
    row.locator("select.fu-rating").select_option("4")
    row.locator("input.fu-notes").fill("打扫干净，老人满意")
    row.locator("button.fu-record").click()
    expect(row).to_have_count(0)
    expect(page.locator("#result-status")).to_have_attribute("data-status", "verified")
    with scene["engine"].connect() as conn:
        recorded = conn.execute(sa.text("SELECT f.status, f.rating, f.complaint, f.notes, o.status FROM follow_ups f"
                                        " JOIN orders o ON o.id = f.order_id WHERE f.id = :f"),
                                {"f": follow_up["id"]}).one()
    assert tuple(recorded) == ("done", 4, False, "打扫干净，老人满意", "verified")
    assert operator.errors == []


def test_supervisor_assigns_an_escalated_order_by_hand(console, live_server, celery_worker, scene):
    supervisor = console()
    supervisor.log_in("supervisor1")
    supervisor.page.goto("/ops/orders")
    page = supervisor.page
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    household_id, code = scene["lonely"]
    placed = api(live_server, live_server.token("operator1"), "POST", "/orders",
                 {"household_id": household_id, "service_type": code,
                  "scheduled_for": next_local(hour=3).isoformat()})
    assert placed.status_code == 201 and placed.json()["status"] == "escalated", placed.text
    order_id = placed.json()["id"]

    row = page.locator(f"#escalated-{order_id}")
    expect(row).to_be_visible()  # live: order.escalated to the supervisors
    expect(row.locator(".e-reason")).to_have_text("没有符合条件的服务商")
    options = row.locator('select.e-provider option[data-rule="open"]')
    expect(options.first).to_be_attached()
    provider_id = options.first.get_attribute("value")
    row.locator("select.e-provider").select_option(provider_id)
    row.locator("button.e-assign").click()
    expect(page.locator("#escalated-status")).to_contain_text(f"#{order_id}")
    expect(page.locator(f"#escalated-{order_id}")).to_have_count(0)
    with scene["engine"].connect() as conn:
        status, assigned_to = conn.execute(sa.text("SELECT status, provider_id FROM orders WHERE id = :o"),
                                           {"o": order_id}).one()
    assert (status, assigned_to) == ("assigned", int(provider_id))
    assert supervisor.errors == []


def test_green_service_key_opens_a_callback_live(console, live_server, celery_worker, scene):
    operator = console()
    operator.log_in("operator1")
    operator.page.goto("/ops/orders")
    page = operator.page
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    token, household_id = scene["device"]
    response = requests.post(f"{live_server.url}/api/v1/device-events", timeout=10,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"event_id": f"green-{time.time()}", "type": "service_request",
                                   "occurred_at": datetime.now(UTC).isoformat()})
    assert response.status_code == 202 and response.json()["incident_id"] is None
    task = page.locator(f'#callbacks li[data-household-id="{household_id}"]')
    expect(task).to_be_visible()  # live: callback.updated
    expect(task).to_contain_text("回拨住户")
    task.locator("button.callback-order").click()
    expect(page.locator("#household-picked")).to_have_attribute("data-household-id", str(household_id))
    expect(page.locator("#service-q")).to_be_focused()
    expect(page.locator("#order-status")).to_have_text("已根据回拨任务填好表单。")
    assert operator.errors == []
