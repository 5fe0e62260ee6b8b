"""The provider company's console in headless Chromium against the real server and Celery worker (issue 6,
item 6): an operator's order reaches the company's phone live, with its sound and a moving countdown; accept
(the operator sees it accepted), worker, en route, arrived, completed — the resident's phone shown only from
acceptance; an offer left to expire moves on to the next company and leaves the console live; a decline with a
reason; a 409 for an offer answered meanwhile; a profile change proposed by the company and approved by an
administrator in another browser."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.conftest import DEMO_PASSWORD
from tests.test_browser_operator_flow import expect

pytest_plugins = ("tests.browser",)
pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
SERVICE = "care.home_visit"


PLACED: list[int] = []  # orders these tests placed, cancelled after each test if still open


@pytest.fixture(autouse=True)
def cancel_leftovers(live_server):
    """Orders left offered would go on offering (and texting) companies while later tests run."""
    yield
    operator = api(live_server, "operator1")
    while PLACED:
        operator.post(f"{live_server.url}/api/v1/orders/{PLACED.pop()}/cancel", json={"reason": "e2e: done"},
                      timeout=10)  # 409 for an order already finished: nothing to do


def household_for_provider_one(app, *, after: int) -> int:
    """A household for which company 1 (provider1's) ranks as high as it can for a "now" home visit, with
    `after` more companies after it (for an offer of company 1 that fails and moves on). Ranked here as the
    server ranks; the server's caches may be a minute older, which `offer_to_provider_one` absorbs. (Company 1
    drops in the ranking as it takes this month's orders: the fairness weight. Hence the order of the tests.)"""
    from eldercare.catalog.models import ServiceType
    from eldercare.core.time import utcnow
    from eldercare.dispatch import matching
    from eldercare.extensions import db
    from eldercare.households.models import Household
    from eldercare.providers.models import provider_coverage

    with app.app_context():
        matching.invalidate()
        service = db.session.scalar(sa.select(ServiceType).where(ServiceType.code == SERVICE))
        first_homes = (sa.select(sa.func.min(Household.id))
                       .join(provider_coverage, provider_coverage.c.community_id == Household.community_id)
                       .where(provider_coverage.c.provider_id == 1, Household.active.is_(True),
                              Household.phone.is_not(None))  # so that there is a phone to show
                       .group_by(Household.community_id))
        homes = db.session.execute(sa.select(Household.id, Household.community_id, Household.lat, Household.lng)
                                   .where(Household.id.in_(first_homes)).order_by(Household.id)).all()
        now = utcnow()
        best = None
        for home in homes:
            request = matching.MatchRequest(service.id, home.community_id, home.lat, home.lng, now, now,
                                            service.default_sla_minutes)
            ranked = [c.provider_id for c in matching.eligible_providers(request, now)]
            if 1 in ranked and len(ranked) > ranked.index(1) + after:
                best = min(best or (99, 0), (ranked.index(1), home.id))
        db.session.remove()
    # Each company before it declines; with MAX_ROUNDS = 3 failed rounds, a move on needs it second at worst.
    assert best is not None and best[0] <= 2 - after, f"company 1 ranks too low everywhere: {best}"
    return best[1]


def api(live_server, username: str):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {live_server.token(username)}"
    return session


def staff_api(live_server, provider_id: int):
    """Bearer session of a staff account of the company (created by the administrator the first time)."""
    username = f"e2e-staff-{provider_id}"
    try:
        return api(live_server, username)
    except requests.HTTPError:
        created = api(live_server, "admin").post(f"{live_server.url}/api/v1/users", timeout=10, json={
            "username": username, "password": DEMO_PASSWORD, "role": "provider_staff", "provider_id": provider_id})
        assert created.status_code == 201, created.text
        return api(live_server, username)


def offer_to_provider_one(app, live_server, *, after: int = 0, operator_page=None) -> tuple[dict, int]:
    """An operator's order, offered in turn (sequential dispatch): the companies ranked above company 1 decline
    it, so that it comes to company 1. Returns the order as placed and company 1's offer id. With
    `operator_page` (an operator on /ops/orders) the order is taken on that page's form, else through the API."""
    household_id = household_for_provider_one(app, after=after)
    operator = api(live_server, "operator1")
    if operator_page is None:
        body = {"household_id": household_id, "service_type": SERVICE, "notes": "e2e"}
        response = operator.post(f"{live_server.url}/api/v1/orders", json=body, timeout=10)
        assert response.status_code == 201, response.text
        order = response.json()
    else:
        order_id = order_on_the_page(operator_page, live_server, household_id)
        order = operator.get(f"{live_server.url}/api/v1/orders/{order_id}", timeout=10).json()
    PLACED.append(order["id"])
    for _ in range(3):
        assert order["status"] == "offered", order
        [pending] = [o for o in order["offers"] if o["status"] == "pending"]
        if pending["provider_id"] == 1:
            return order, pending["id"]
        answer = staff_api(live_server, pending["provider_id"]).post(
            f"{live_server.url}/api/v1/offers/{pending['id']}/decline", json={"reason": "e2e: not us"}, timeout=10)
        assert answer.status_code == 200, answer.text
        order = operator.get(f"{live_server.url}/api/v1/orders/{order['id']}", timeout=10).json()
    raise AssertionError(f"the order never came to company 1: {order}")


def order_on_the_page(page, live_server, household_id: int) -> int:
    """The operator's order form: the household found by its phone number, the service by its pinyin, now."""
    from tests.test_browser_orders import pick

    household = api(live_server, "operator1").get(f"{live_server.url}/api/v1/households/{household_id}",
                                                  timeout=10).json()
    page.keyboard.press("/")
    expect(page.locator("#household-q")).to_be_focused()
    page.keyboard.type("".join(ch for ch in household["phone"] if ch.isdigit())[-8:])
    pick(page, "household-results", "data-household-id", household_id)
    page.locator("#service-q").fill("shangmentanshi")
    pick(page, "service-results", "data-code", SERVICE)
    page.keyboard.press("Control+Enter")
    result = page.locator("#order-result")
    expect(result).to_be_visible()
    expect(page.locator("#result-status")).to_have_attribute("data-status", "offered")
    return int(result.get_attribute("data-order-id"))


def order_status(live_server, order_id: int, wanted: str, timeout: float = 10) -> dict:
    operator = api(live_server, "operator1")
    deadline = time.monotonic() + timeout
    while True:
        order = operator.get(f"{live_server.url}/api/v1/orders/{order_id}", timeout=10).json()
        if order["status"] == wanted or time.monotonic() > deadline:
            return order
        time.sleep(0.2)


def provider_console(console, **options: object):
    tab = console(**options)
    tab.log_in("provider1")
    expect(tab.page.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(tab.page.locator("#affiliation-name")).to_have_text("呼和浩特市北疆居家养老服务有限公司")
    return tab


def test_expired_offer_moves_on_and_a_decline_with_a_reason(console, live_server, celery_worker, app,
                                                             migrated_db):
    tab = provider_console(console, **DESKTOP)
    page = tab.page
    page.keyboard.press("2")  # keyboard: 1–4 switch the tabs
    expect(page.locator("#panel-jobs")).to_be_visible()
    page.keyboard.press("1")
    expect(page.locator("#panel-offers")).to_be_visible()

    order, offer_id = offer_to_provider_one(app, live_server, after=1)
    expect(page.locator(f"#offer-{offer_id}")).to_be_visible()
    engine = sa.create_engine(migrated_db)
    try:
        with engine.begin() as conn:  # the deadline passes now; the real worker's sweep fires it
            moved = conn.execute(sa.text("UPDATE timers SET due_at = now() WHERE kind = 'offer.expire'"
                                         " AND ref_id = :id AND fired_at IS NULL"), {"id": offer_id}).rowcount
        assert moved == 1
    finally:
        engine.dispose()
    expect(page.locator(f"#offer-{offer_id}")).to_have_count(0, timeout=20_000)  # live
    expect(page.locator("#offer-news")).to_contain_text(f"订单 #{order['id']} 的派单已失效：已超时。")
    deadline = time.monotonic() + 15
    while True:  # the next round goes to the next company
        offers = order_status(live_server, order["id"], "offered")["offers"]
        if offers[-1]["id"] != offer_id or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    mine = next(o for o in offers if o["id"] == offer_id)
    assert mine["status"] == "expired"
    tried = {o["provider_id"] for o in offers[:-1]}
    assert offers[-1]["status"] == "pending" and offers[-1]["provider_id"] not in tried, offers

    order, offer_id = offer_to_provider_one(app, live_server)
    card = page.locator(f"#offer-{offer_id}")
    expect(card).to_be_visible()
    card.get_by_role("button", name="拒单", exact=True).click()
    reason = card.get_by_label("拒单原因")
    expect(reason).to_be_focused()
    reason.select_option("距离太远")
    card.get_by_role("button", name="确认拒单").click()
    expect(card).to_have_count(0)
    expect(page.locator("#company-message")).to_have_text(f"已拒单：订单 #{order['id']} 将派给其他企业。")
    answered = order_status(live_server, order["id"], "offered")
    [mine] = [o for o in answered["offers"] if o["id"] == offer_id]
    assert (mine["status"], mine["decline_reason"]) == ("declined", "距离太远")

    # A colleague answers on another device while this console is cut off: its accept gets 409, says why,
    # and the offer leaves the list; the console reconnects.
    order, offer_id = offer_to_provider_one(app, live_server)
    card = page.locator(f"#offer-{offer_id}")
    expect(card).to_be_visible()
    page.evaluate("window.Eldercare.socket.disconnect()")
    expect(page.locator("#conn")).to_have_attribute("data-state", "disconnected")
    colleague = api(live_server, "provider1").post(f"{live_server.url}/api/v1/offers/{offer_id}/decline",
                                                   json={"reason": "同事已拒单"}, timeout=10)
    assert colleague.status_code == 200
    card.get_by_role("button", name="接单", exact=True).click()
    expect(card).to_have_count(0)
    expect(page.locator("#company-message")).to_have_text(f"订单 #{order['id']} 的派单已失效：已被拒绝。")
    page.evaluate("window.Eldercare.socket.connect()")
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    assert not tab.errors


def test_offer_accepted_and_job_done_on_a_phone(console, live_server, celery_worker, app):
    tab = provider_console(console, **PHONE)
    phone = tab.page
    phone.locator("#tab-offers").tap()  # also the user gesture that lets the page play sound
    announced = phone.evaluate("window.Eldercare.offersAnnounced")
    operator = console()  # the order is taken on the operator's page, which then follows it live
    operator.log_in("operator1")
    operator.page.goto("/ops/orders")
    expect(operator.page.locator("#conn")).to_have_attribute("data-state", "connected")

    order, offer_id = offer_to_provider_one(app, live_server, operator_page=operator.page)
    card = phone.locator(f"#offer-{offer_id}")
    expect(card).to_be_visible()  # live, no reload
    assert phone.evaluate("window.Eldercare.offersAnnounced") > announced  # with the sound cue
    expect(phone.locator("#offer-news")).to_contain_text("新派单：上门探视")
    expect(phone.locator("#offers-count")).not_to_have_text("0")
    expect(card.locator(".offer-service")).to_have_text("上门探视")
    expect(card.locator(".offer-when")).to_have_text("尽快上门")
    expect(card.locator(".offer-price")).to_have_text(re.compile(r"^价格 ¥\d+\.\d\d$"))
    countdown = card.locator(".offer-countdown")
    expect(countdown).to_have_text(re.compile(r"^请在 [45]:\d\d 内答复$"))
    shown = countdown.text_content()
    expect(countdown).not_to_have_text(shown)  # it counts down
    offer_page = phone.content()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "provider-console.png"), full_page=True)

    card.get_by_role("button", name="接单", exact=True).tap()
    expect(card).to_have_count(0)
    expect(phone.locator("#company-message")).to_have_text(f"已接单：订单 #{order['id']} 已转入工单。")
    accepted = order_status(live_server, order["id"], "accepted")  # what the operator sees
    assert accepted["provider_id"] == 1
    assert accepted["offers"][-1]["status"] == "accepted"
    # ... on the page where the order was taken, without a reload.
    expect(operator.page.locator("#result-status")).to_have_attribute("data-status", "accepted")
    expect(operator.page.locator(f"#order-row-{order['id']}")).to_have_attribute("data-status", "accepted")
    assert not operator.errors

    resident = api(live_server, "provider1").get(f"{live_server.url}/api/v1/jobs/{order['id']}", timeout=10)
    resident_phone = resident.json()["resident"]["phone"]
    assert resident_phone and resident_phone not in offer_page  # not shown before acceptance

    phone.locator("#tab-jobs").tap()
    job = phone.locator(f"#job-{order['id']}")
    expect(job).to_have_attribute("data-status", "accepted")
    expect(job.locator(".resident-phone a")).to_have_text(resident_phone)
    expect(job.locator(".resident-phone a")).to_have_attribute("href", f"tel:{resident_phone}")
    job.locator("select[name=worker_id]").select_option(index=1)
    job.get_by_role("button", name="指派").tap()
    expect(job).to_have_attribute("data-status", "assigned")
    job.get_by_role("button", name="出发", exact=True).tap()
    expect(job).to_have_attribute("data-status", "en_route")
    job.get_by_role("button", name="已到达").tap()
    expect(job).to_have_attribute("data-status", "in_service")
    assert order_status(live_server, order["id"], "in_service")["status"] == "in_service"
    job.get_by_label("服务时长（分钟）").fill("40")
    job.get_by_label("备注").fill("已探视，老人精神良好")
    job.get_by_role("button", name="确认完成").tap()
    expect(job).to_have_count(0)
    done = order_status(live_server, order["id"], "completed")
    assert (done["status"], done["duration_minutes"]) == ("completed", 40)

    phone.locator("#tab-history").tap()
    finished = phone.locator(f"#history-{order['id']}")
    expect(finished).to_have_attribute("data-status", "completed")
    expect(finished).to_contain_text("40 分钟")
    assert resident_phone not in phone.locator("#panel-history").text_content()  # never after the job
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # usable on a phone
    assert not tab.errors


def test_profile_change_requested_by_the_company_and_approved_by_an_admin(console, live_server, celery_worker):
    company = provider_console(console, **DESKTOP)
    page = company.page
    page.locator("#tab-profile").click()
    capacity = page.get_by_label("同时进行工单数")
    expect(capacity).to_have_value("3")
    capacity.fill("4")
    page.get_by_label("给中心的说明（选填）").fill("新增两名护理员")
    page.get_by_role("button", name="提交审批").click()
    expect(page.locator("#company-message")).to_have_text(re.compile(r"^变更申请 #\d+ 已提交，等待中心审批。$"))
    request_id = int(re.search(r"\d+", page.locator("#company-message").text_content()).group())
    mine = page.locator(f"#change-request-{request_id}")
    expect(mine).to_have_attribute("data-status", "pending")
    expect(mine.locator(".request-status")).to_have_text("待审批")
    provider = api(live_server, "provider1")
    assert provider.get(f"{live_server.url}/api/v1/providers/1", timeout=10).json()["concurrent_capacity"] == 3

    admin = console(**DESKTOP)
    admin.log_in("admin")
    admin.page.locator("#nav-provider-changes").click()
    change = admin.page.locator(f"#change-{request_id}")
    expect(change).to_contain_text("新增两名护理员")
    expect(change.locator(".change-rows")).to_contain_text("3 → 4")
    change.get_by_label("备注（可选）").fill("同意")
    change.get_by_role("button", name="批准").click()
    expect(admin.page.locator(".flash")).to_have_text(f"变更申请 {request_id} 已批准，派单匹配即时生效。")
    expect(admin.page.locator(f"#decided-{request_id}")).to_have_attribute("data-status", "approved")

    expect(mine).to_have_attribute("data-status", "approved")  # live on the company's console
    expect(page.locator("#company-message")).to_have_text(f"中心已处理申请 #{request_id}：已批准")
    expect(capacity).to_have_value("4")
    try:
        assert provider.get(f"{live_server.url}/api/v1/providers/1", timeout=10).json()["concurrent_capacity"] == 4
    finally:  # back as it was, through the same path (the server's matching cache follows)
        back = provider.post(f"{live_server.url}/api/v1/providers/1/change-requests",
                             json={"concurrent_capacity": 3}, timeout=10).json()
        requests.post(f"{live_server.url}/api/v1/provider-change-requests/{back['id']}/approve", json={},
                      headers={"Authorization": f"Bearer {live_server.token('admin')}"}, timeout=10)
    assert not (company.errors or admin.errors)
