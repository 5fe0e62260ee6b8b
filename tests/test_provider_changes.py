"""Company profile change requests (issue 6, item 6): the company proposes, the centre approves or rejects;
only an approved change reaches the provider's row and matching. Also the company's own detail and workers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from eldercare.core import events
from eldercare.core.models import StateEvent
from eldercare.dispatch import matching
from eldercare.providers.models import Provider, ProviderChangeRequest
from tests.helpers import error_of, login_session

URL = "/api/v1/providers/{}/change-requests"


@pytest.fixture(autouse=True)
def emitted(monkeypatch, db_session):
    sent = []
    monkeypatch.setattr(events, "emit_now", lambda name, data, **kw: sent.append((name, data, kw)))
    matching.invalidate()
    yield sent
    matching.invalidate()


def submit(client, headers, body, provider_id=1):
    return client.post(URL.format(provider_id), json=body, headers=headers)


def test_staff_submit_and_a_supervisor_approves(client, db_session, ops, emitted):
    provider = db_session.get(Provider, 1)
    before_types = [t.code for t in provider.service_types]
    hours = [{"weekday": d, "opens_at": "08:00", "closes_at": "17:30"} for d in range(5)]
    response = submit(client, ops("provider1"), {"concurrent_capacity": 4, "daily_capacity": 30, "hours": hours,
                                                  "service_types": before_types[:3], "note": "人手调整"})
    assert response.status_code == 201, response.get_json()
    change = response.get_json()
    assert (change["status"], change["note"], change["submitted_by"]) == ("pending", "人手调整", "provider1")
    assert "note" not in change["payload"]
    db_session.expire_all()
    assert db_session.get(Provider, 1).concurrent_capacity == 3  # nothing applies before approval
    assert ("change_request.updated", {"id": change["id"], "status": "pending", "provider_id": 1},
            {"namespace": "/provider", "room": "provider:1"}) in emitted

    listed = client.get("/api/v1/provider-change-requests?status=pending", headers=ops("supervisor1")).get_json()
    assert change["id"] in [c["id"] for c in listed["items"]]
    own = client.get(URL.format(1), headers=ops("provider1")).get_json()
    assert own["items"][0]["id"] == change["id"]

    approved = client.post(f"/api/v1/provider-change-requests/{change['id']}/approve", json={"note": "同意"},
                           headers=ops("supervisor1"))
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert (body["status"], body["reviewed_by"], body["review_note"]) == ("approved", "supervisor1", "同意")
    assert body["previous"]["concurrent_capacity"] == 3 and len(body["previous"]["hours"]) == 7
    db_session.expire_all()
    provider = db_session.get(Provider, 1)
    assert (provider.concurrent_capacity, provider.daily_capacity) == (4, 30)
    assert [(h.weekday, h.opens_at.strftime("%H:%M"), h.closes_at.strftime("%H:%M")) for h in provider.hours] == \
        [(d, "08:00", "17:30") for d in range(5)]
    assert [t.code for t in provider.service_types] == before_types[:3]
    assert len(provider.communities) == 48  # not in the request: unchanged
    # Matching sees it (the cache is forgotten on commit).
    assert matching.directory().providers[1].concurrent_capacity == 4
    detail = client.get("/api/v1/providers/1", headers=ops("provider1")).get_json()
    assert detail["concurrent_capacity"] == 4 and detail["service_types"] == before_types[:3]
    history = db_session.scalars(sa.select(StateEvent.to_state).where(
        StateEvent.entity_type == "provider_change", StateEvent.entity_id == change["id"]).order_by(StateEvent.id))
    assert list(history) == ["pending", "approved"]
    again = client.post(f"/api/v1/provider-change-requests/{change['id']}/reject", json={},
                        headers=ops("admin"))
    assert again.status_code == 409  # decided once


def test_reject_changes_nothing(client, db_session, ops):
    change = submit(client, ops("provider1"), {"community_ids": [1, 2]}).get_json()
    rejected = client.post(f"/api/v1/provider-change-requests/{change['id']}/reject",
                           json={"note": "覆盖范围过小"}, headers=ops("admin"))
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    assert rejected.get_json()["previous"] is None
    db_session.expire_all()
    assert len(db_session.get(Provider, 1).communities) == 48


@pytest.mark.parametrize(("body", "field"), [
    ({}, "_schema"),
    ({"note": "nothing else"}, "_schema"),
    ({"concurrent_capacity": 0}, "concurrent_capacity"),
    ({"concurrent_capacity": 50, "daily_capacity": 20}, "concurrent_capacity"),
    ({"daily_capacity": "many"}, "daily_capacity"),
    ({"community_ids": []}, "community_ids"),
    ({"community_ids": [1, 1]}, "community_ids"),
    ({"community_ids": [999999]}, "community_ids"),
    ({"service_types": ["no.such_type"]}, "service_types"),
    ({"hours": [{"weekday": 7, "opens_at": "08:00", "closes_at": "17:00"}]}, "hours"),
    ({"hours": [{"weekday": 1, "opens_at": "18:00", "closes_at": "08:00"}]}, "hours"),
    ({"hours": [{"weekday": 1, "opens_at": "8am", "closes_at": "17:00"}]}, "hours"),
    ({"hours": [{"weekday": 1, "opens_at": "08:00", "closes_at": "17:00"}] * 2}, "hours"),
    ({"status": "active"}, "status"),
])
def test_bad_input_is_400(client, ops, body, field):
    response = submit(client, ops("provider1"), body)
    assert response.status_code == 400, response.get_json()
    assert field in error_of(response)["fields"]


def test_a_company_cannot_touch_another(client, db_session, ops):
    assert submit(client, ops("provider1"), {"daily_capacity": 10}, provider_id=2).status_code == 403
    assert client.get(URL.format(2), headers=ops("provider1")).status_code == 403
    assert client.get("/api/v1/providers/2/workers", headers=ops("provider1")).status_code == 403
    theirs = submit(client, ops("provider2"), {"daily_capacity": 40}, provider_id=2).get_json()
    # Staff never decide, not even on their own company's request.
    for who in ("provider1", "provider2", "operator1"):
        assert client.post(f"/api/v1/provider-change-requests/{theirs['id']}/approve", json={},
                           headers=ops(who)).status_code == 403
    assert db_session.get(ProviderChangeRequest, theirs["id"]).status == "pending"
    assert client.post("/api/v1/provider-change-requests/999999/approve", json={},
                       headers=ops("admin")).status_code == 404


def test_workers_of_the_company(client, ops):
    workers = client.get("/api/v1/providers/1/workers", headers=ops("provider1")).get_json()
    assert len(workers) == 8 and {"id", "name", "phone"} <= set(workers[0])
    assert client.get("/api/v1/providers/1/workers", headers=ops("operator1")).status_code == 200
    assert client.get("/api/v1/providers/999999/workers", headers=ops("admin")).status_code == 404


def test_admin_page_lists_and_decides(client, db_session, ops):
    change = submit(client, ops("provider1"), {"concurrent_capacity": 5, "community_ids": [1, 2, 3]}).get_json()
    csrf = login_session(client, "supervisor1")
    html = client.get("/admin/provider-changes/").get_data(as_text=True)
    assert f'id="change-{change["id"]}"' in html
    assert "同时接单上限" in html and "<strong>5</strong>" in html and "移除：" in html
    response = client.post(f"/admin/provider-changes/{change['id']}/approve", data={"csrf_token": csrf,
                                                                                   "note": "ok"})
    assert response.status_code == 302
    db_session.expire_all()
    assert db_session.get(Provider, 1).concurrent_capacity == 5
    assert len(db_session.get(Provider, 1).communities) == 3
    html = client.get("/admin/provider-changes/").get_data(as_text=True)
    assert "已批准" in html and f'id="decided-{change["id"]}"' in html
    again = client.post(f"/admin/provider-changes/{change['id']}/reject", data={"csrf_token": csrf})
    assert again.status_code == 302
    assert "已处理过" in client.get("/admin/provider-changes/").get_data(as_text=True)


def test_console_page_of_a_company(client):
    login_session(client, "provider1")
    html = client.get("/provider/").get_data(as_text=True)
    assert 'id="company-console" data-provider-id="1"' in html and 'id="team-console"' not in html
    assert "派单" in html and "企业资料" in html and "提交审批" in html and "新城区" in html
    assert "/static/js/provider-offers.js" in html and "<script>" not in html
    english = client.get("/provider/?lang=en").get_data(as_text=True)
    assert "Offers" in english and "Company profile" in english and "Submit for approval" in english


def test_team_members_keep_their_console(client):
    login_session(client, "team1")
    html = client.get("/provider/").get_data(as_text=True)
    assert 'id="team-console"' in html and 'id="company-console"' not in html
