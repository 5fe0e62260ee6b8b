"""Issue 6, the provider's side of a job (worker, progress, end), what it may see of the resident, the
follow-up call and the scorecard; and the order form's searches (household by phone, type by pinyin)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from eldercare.core import events, presence, timers
from eldercare.core.models import AuditEvent
from eldercare.dispatch import matching
from eldercare.dispatch.models import FollowUp, Order
from eldercare.households.models import Contact, Household
from eldercare.providers.models import ProviderWorker
from tests.conftest import NoCountdown
from tests.dispatch_helpers import bearer, busy_household, place, staff_of
from tests.helpers import error_of


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, db_session):
    monkeypatch.setattr(events, "emit_now", lambda *a, **k: None)
    monkeypatch.setattr(timers, "fire_timer", NoCountdown)
    matching.invalidate()
    presence.forget_all()
    yield
    matching.invalidate()


@pytest.fixture
def job(client, db_session, ops) -> tuple[int, int, dict]:
    """An accepted order: (order id, provider id, the company's bearer headers)."""
    order = place(client, ops("operator1"), busy_household(db_session)).get_json()
    offer = order["offers"][0]
    staff = bearer(staff_of(db_session, offer["provider_id"]))
    assert client.post(f"/api/v1/offers/{offer['id']}/accept", headers=staff).status_code == 200
    return order["id"], offer["provider_id"], staff


def worker_of(session, provider_id: int, *, other: bool = False) -> int:
    condition = ProviderWorker.provider_id != provider_id if other else ProviderWorker.provider_id == provider_id
    return session.scalar(sa.select(ProviderWorker.id).where(condition, ProviderWorker.active.is_(True)).limit(1))


def shown(session, order_id: int) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "order.resident_shown", AuditEvent.target_id == order_id))


def test_the_whole_job_and_its_follow_up(client, db_session, ops, job):
    order_id, provider_id, staff = job
    assert client.post(f"/api/v1/jobs/{order_id}/en-route", headers=staff).status_code == 409  # no worker yet
    bad = client.post(f"/api/v1/jobs/{order_id}/worker", json={"worker_id": worker_of(db_session, provider_id,
                                                                                     other=True)}, headers=staff)
    assert bad.status_code == 400 and "worker_id" in error_of(bad)["fields"]
    worker = worker_of(db_session, provider_id)
    assigned = client.post(f"/api/v1/jobs/{order_id}/worker", json={"worker_id": worker}, headers=staff)
    assert assigned.status_code == 200 and assigned.get_json()["status"] == "assigned"
    assert assigned.get_json()["resident"]["address"]  # in hand: the company may reach the resident
    assert client.post(f"/api/v1/jobs/{order_id}/en-route", headers=staff).get_json()["status"] == "en_route"
    assert client.post(f"/api/v1/jobs/{order_id}/arrived", headers=staff).get_json()["status"] == "in_service"
    done = client.post(f"/api/v1/jobs/{order_id}/complete", headers=staff,
                       json={"duration_minutes": 45, "notes": "已探视，老人状态良好", "price": "35.50"})
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert (body["status"], body["price"], body["duration_minutes"], body["resident"]) == \
        ("completed", "35.50", 45, None)
    assert client.get(f"/api/v1/jobs/{order_id}", headers=staff).get_json()["resident"] is None

    pending = client.get("/api/v1/follow-ups?per_page=500", headers=ops("operator1")).get_json()["items"]
    [follow_up] = [f for f in pending if f["order_id"] == order_id]
    assert client.post(f"/api/v1/follow-ups/{follow_up['id']}", json={"status": "done"},
                       headers=ops("operator1")).status_code == 400  # a rating is needed
    recorded = client.post(f"/api/v1/follow-ups/{follow_up['id']}", headers=ops("operator1"),
                           json={"status": "done", "rating": 2, "complaint": True, "notes": "迟到"})
    assert recorded.status_code == 200 and recorded.get_json()["rating"] == 2
    assert client.post(f"/api/v1/follow-ups/{follow_up['id']}", json={"rating": 5},
                       headers=ops("operator1")).status_code == 409
    db_session.expire_all()
    assert db_session.get(Order, order_id).status == "verified"

    card = client.get(f"/api/v1/providers/{provider_id}/scorecard", headers=ops("supervisor1")).get_json()
    assert card["offers"]["accepted"] >= 1 and card["acceptance_rate"] > 0
    assert card["ratings"] >= 1 and card["complaints"] >= 1 and card["jobs_arrived"] >= 1
    assert card["on_time_rate"] is not None
    assert card["rating_bayesian"] == pytest.approx(
        matching.bayesian_rating(card["rating_prior"], round(card["rating_mean"] * card["ratings"]), card["ratings"]))
    assert client.get(f"/api/v1/providers/{provider_id}/scorecard", headers=staff).status_code == 200
    other = client.get(f"/api/v1/providers/{provider_id + 1}/scorecard", headers=staff)
    assert other.status_code == 403


def test_resident_data_is_shown_only_in_hand_and_every_showing_is_audited(client, db_session, ops, job):
    order_id, _, staff = job
    before = shown(db_session, order_id)
    detail = client.get(f"/api/v1/jobs/{order_id}", headers=staff).get_json()
    household = db_session.get(Household, db_session.get(Order, order_id).household_id)
    assert detail["resident"]["address"] == household.address
    assert shown(db_session, order_id) == before + 1
    listed = client.get("/api/v1/jobs", headers=staff).get_json()["items"]
    assert [j["resident"] for j in listed if j["id"] == order_id] == [None]  # lists never carry it


def test_another_company_sees_neither_the_job_nor_its_offer(client, db_session, ops, job):
    order_id, provider_id, _ = job
    stranger = bearer(staff_of(db_session, provider_id % 100 + 1 if provider_id != 1 else 2))
    assert client.get(f"/api/v1/jobs/{order_id}", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/jobs/{order_id}/en-route", headers=stranger).status_code == 404
    offers = client.get(f"/api/v1/offers?order_id={order_id}", headers=stranger).get_json()["items"]
    assert offers == []


def test_an_offered_order_is_not_a_job_yet(client, db_session, ops):
    order = place(client, ops("operator1"), busy_household(db_session)).get_json()
    staff = bearer(staff_of(db_session, order["offers"][0]["provider_id"]))
    assert client.get(f"/api/v1/jobs/{order['id']}", headers=staff).status_code == 404
    [offer] = [o for o in client.get("/api/v1/offers", headers=staff).get_json()["items"]
               if o["order_id"] == order["id"]]
    assert offer["community"] and offer["service_type"] == "care.home_visit"
    assert not {"address", "phone", "resident"} & set(offer)


def test_cannot_complete_with_a_reason(client, db_session, ops, job):
    order_id, provider_id, staff = job
    client.post(f"/api/v1/jobs/{order_id}/worker", json={"worker_id": worker_of(db_session, provider_id)},
                headers=staff)
    assert client.post(f"/api/v1/jobs/{order_id}/cannot-complete", json={}, headers=staff).status_code == 400
    response = client.post(f"/api/v1/jobs/{order_id}/cannot-complete", json={"reason": "老人不在家"}, headers=staff)
    assert response.status_code == 200 and response.get_json()["status"] == "cannot_complete"
    assert db_session.scalar(sa.select(FollowUp).where(FollowUp.order_id == order_id)) is None


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/jobs/{id}/complete", {"duration_minutes": 0}),
    ("/api/v1/jobs/{id}/complete", {"duration_minutes": 30, "price": "-1"}),
    ("/api/v1/jobs/{id}/complete", {"duration_minutes": "long"}),
    ("/api/v1/jobs/{id}/worker", {"worker_id": "x"}),
])
def test_bad_job_input_is_400(client, db_session, ops, job, path, body):
    order_id, _, staff = job
    response = client.post(path.format(id=order_id), json=body, headers=staff)
    assert response.status_code == 400, response.get_json()


def test_completing_out_of_order_is_409(client, db_session, ops, job):
    order_id, _, staff = job
    response = client.post(f"/api/v1/jobs/{order_id}/complete", json={"duration_minutes": 30}, headers=staff)
    assert response.status_code == 409 and error_of(response)["fields"]["status"] == "accepted"


# --- the order form's searches -----------------------------------------------------------------------

def test_household_search_by_caller_number(client, db_session, ops):
    contact = db_session.scalars(sa.select(Contact).order_by(Contact.id.desc())).first()
    local = contact.phone.removeprefix("+86")
    for typed in (contact.phone, local, f"{local[:3]} {local[3:7]} {local[7:]}"):
        found = client.get(f"/api/v1/households?q={typed.replace('+', '%2B')}&per_page=50",
                           headers=ops("operator1")).get_json()
        assert contact.household_id in [h["id"] for h in found["items"]], typed
    home = db_session.scalars(sa.select(Household).where(Household.phone.like("0471-%"))).first()
    found = client.get(f"/api/v1/households?q={home.phone.replace('-', '')}", headers=ops("operator1")).get_json()
    assert home.id in [h["id"] for h in found["items"]]


@pytest.mark.parametrize("q", ["上门探视", "shangmentanshi", "smts", "home check", "care.home_visit", "ShangMen"])
def test_service_type_search_by_chinese_pinyin_or_english(client, ops, q):
    found = client.get(f"/api/v1/service-types?q={q}&per_page=500", headers=ops("operator1")).get_json()
    assert "care.home_visit" in [t["code"] for t in found["items"]], q
    assert len(found["items"]) < 20


def test_service_type_search_with_no_match(client, ops):
    found = client.get("/api/v1/service-types?q=zzzzqqq", headers=ops("operator1")).get_json()
    assert found["total"] == 0


def test_jobs_in_hand_and_history_and_what_an_offer_shows(client, db_session, ops):
    order = place(client, ops("operator1"), busy_household(db_session)).get_json()
    offer = order["offers"][0]
    staff = bearer(staff_of(db_session, offer["provider_id"]))
    [listed] = [o for o in client.get("/api/v1/offers?status=pending", headers=staff).get_json()["items"]
                if o["id"] == offer["id"]]
    assert listed["price"] == order_price(client, ops, order["id"]) and listed["service_name_en"]
    assert client.post(f"/api/v1/offers/{offer['id']}/accept", headers=staff).status_code == 200

    def ids(finished: str) -> list[int]:
        return [j["id"] for j in client.get(f"/api/v1/jobs?finished={finished}", headers=staff).get_json()["items"]]

    assert order["id"] in ids("false") and order["id"] not in ids("true")
    worker = worker_of(db_session, offer["provider_id"])
    named = client.post(f"/api/v1/jobs/{order['id']}/worker", json={"worker_id": worker}, headers=staff).get_json()
    assert named["worker_name"] == db_session.get(ProviderWorker, worker).name
    client.post(f"/api/v1/jobs/{order['id']}/cannot-complete", json={"reason": "老人不在家"}, headers=staff)
    assert order["id"] in ids("true") and order["id"] not in ids("false")


def order_price(client, ops, order_id: int) -> str:
    return client.get(f"/api/v1/orders/{order_id}", headers=ops("operator1")).get_json()["price"]
