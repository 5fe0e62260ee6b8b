"""The JSON API of the foundation: tokens, users, lists at the city's scale, errors, OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from eldercare.core.models import AuditEvent, User
from eldercare.extensions import db
from tests.conftest import DEMO_PASSWORD
from tests.helpers import error_of

EXPECTED_COMMUNITIES = {"新城区": 48, "回民区": 57, "玉泉区": 49, "赛罕区": 87, "土左旗": 13, "托县": 12,
                        "和林县": 10, "清水河": 6, "武川县": 7}


def get_all(client, path: str, headers: dict) -> list[dict]:
    items, page = [], 1
    while True:
        body = client.get(f"{path}?page={page}&per_page=500", headers=headers).get_json()
        items += body["items"]
        if page >= body["pages"]:
            return items
        page += 1


def test_token_for_good_credentials(client):
    response = client.post("/api/v1/auth/token", json={"username": "operator1", "password": DEMO_PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["role"] == "operator" and body["access_token"]
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=11) < lifetime <= timedelta(hours=12)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.get_json()["username"] == "operator1"


def test_wrong_password_is_401_with_audit_event(client, db_session):
    before = db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "auth.login_failed"))
    response = client.post("/api/v1/auth/token", json={"username": "operator1", "password": "nope"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "bad_credentials"
    after = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
                               .order_by(AuditEvent.id.desc())).first()
    count = db_session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "auth.login_failed"))
    assert count == before + 1 and after.actor_label == "operator1" and after.ip == "127.0.0.1"


def test_successful_login_is_audited(client, db_session):
    client.post("/api/v1/auth/token", json={"username": "supervisor1", "password": DEMO_PASSWORD})
    event = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.login")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.actor_label == "supervisor1"


def test_eleven_failed_logins_a_minute_get_429(client):
    statuses = [client.post("/api/v1/auth/token", json={"username": "admin", "password": f"bad{i}"}).status_code
                for i in range(11)]
    assert statuses == [401] * 10 + [429]
    response = client.post("/api/v1/auth/token", json={"username": "admin", "password": DEMO_PASSWORD})
    assert response.status_code == 429 and error_of(response)["code"] == "rate_limited"


def test_successful_logins_do_not_count_against_the_limit(client):
    for _ in range(12):
        assert client.post("/api/v1/auth/token",
                           json={"username": "operator1", "password": DEMO_PASSWORD}).status_code == 200


def test_bad_tokens_are_401(client):
    for header in ("Bearer nonsense", "Bearer ", "Basic abc", "Bearer " + "x" * 5000):
        response = client.get("/api/v1/districts", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert error_of(response)["code"] == "unauthenticated"


def test_token_revoked_when_token_version_bumps(client, auth_headers, db_session):
    headers = auth_headers("operator1")
    user = db_session.scalar(sa.select(User).where(User.username == "operator1"))
    user.token_version += 1
    db_session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_city_at_the_seeds_scale(client, auth_headers):
    headers = auth_headers("operator1")
    districts = get_all(client, "/api/v1/districts", headers)
    assert len(districts) == 9
    assert {d["name_zh"]: d["community_count"] for d in districts} == EXPECTED_COMMUNITIES
    communities = get_all(client, "/api/v1/communities", headers)
    assert len(communities) == 289
    by_district = {d["id"]: d["name_zh"] for d in districts}
    counted: dict[str, int] = {}
    for community in communities:
        counted[by_district[community["district_id"]]] = counted.get(by_district[community["district_id"]], 0) + 1
    assert counted == EXPECTED_COMMUNITIES
    types = get_all(client, "/api/v1/service-types", headers)
    assert len(types) >= 100 and len({t["category"] for t in types}) == 9
    assert all(t["name_zh"] and t["name_en"] for t in types)
    assert client.get("/api/v1/providers?per_page=1", headers=headers).get_json()["total"] >= 130
    assert client.get("/api/v1/teams", headers=headers).get_json()["total"] == 12
    assert client.get("/api/v1/residents?per_page=1", headers=headers).get_json()["total"] >= 5000
    assert client.get("/api/v1/households?per_page=1", headers=headers).get_json()["total"] >= 3000


def test_pagination_and_filters(client, auth_headers):
    headers = auth_headers("operator1")
    first = client.get("/api/v1/communities?per_page=10&page=1", headers=headers).get_json()
    second = client.get("/api/v1/communities?per_page=10&page=2", headers=headers).get_json()
    assert first["total"] == 289 and first["pages"] == 29 and len(first["items"]) == 10
    assert {c["id"] for c in first["items"]}.isdisjoint({c["id"] for c in second["items"]})
    district_id = first["items"][0]["district_id"]
    filtered = client.get(f"/api/v1/communities?district_id={district_id}&per_page=500", headers=headers).get_json()
    assert filtered["total"] < 289 and all(c["district_id"] == district_id for c in filtered["items"])
    meals = client.get("/api/v1/service-types?category=meal&per_page=500", headers=headers).get_json()
    assert meals["total"] > 0 and {t["category"] for t in meals["items"]} == {"meal"}


def test_bad_pagination_is_400_with_fields(client, auth_headers):
    headers = auth_headers("operator1")
    for query in ("page=0", "per_page=0", "per_page=100000", "page=abc", "district_id=x"):
        response = client.get(f"/api/v1/communities?{query}", headers=headers)
        assert response.status_code == 400, query
        assert error_of(response)["fields"], query


def test_household_record_is_audited(client, auth_headers, db_session):
    headers = auth_headers("operator1")
    household_id = client.get("/api/v1/households?per_page=1", headers=headers).get_json()["items"][0]["id"]
    body = client.get(f"/api/v1/households/{household_id}", headers=headers).get_json()
    assert body["residents"] and "health_notes" in body["residents"][0] and body["contacts"] is not None
    event = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "household.view")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.target_id == household_id and event.actor_label == "operator1"
    assert event.detail["residents"] == [r["id"] for r in body["residents"]]
    assert client.get("/api/v1/households/99999999", headers=headers).status_code == 404


def test_create_user_as_admin(client, auth_headers, db_session):
    headers = auth_headers("admin")
    provider_id = client.get("/api/v1/providers?per_page=1", headers=headers).get_json()["items"][0]["id"]
    response = client.post("/api/v1/users", headers=headers, json={
        "username": "newstaff", "password": "long-enough-pw", "role": "provider_staff", "provider_id": provider_id})
    assert response.status_code == 201
    body = response.get_json()
    assert body["username"] == "newstaff" and body["role"] == "provider_staff" and body["id"]
    user = db_session.get(User, body["id"])
    assert user.password_hash != "long-enough-pw" and user.check_password("long-enough-pw")
    token = client.post("/api/v1/auth/token", json={"username": "newstaff", "password": "long-enough-pw"})
    assert token.get_json()["role"] == "provider_staff"
    again = client.post("/api/v1/users", headers=headers, json={
        "username": "newstaff", "password": "long-enough-pw", "role": "operator"})
    assert again.status_code == 409


def test_create_user_validation(client, auth_headers):
    headers = auth_headers("admin")
    cases = [
        ({"username": "x1", "password": "long-enough-pw", "role": "operator"}, "username"),
        ({"username": "abc", "password": "short", "role": "operator"}, "password"),
        ({"username": "abc", "password": "long-enough-pw", "role": "king"}, "role"),
        ({"username": "abc", "password": "long-enough-pw", "role": "provider_staff"}, "provider_id"),
        ({"username": "abc", "password": "long-enough-pw", "role": "team_member", "team_id": 99999}, "team_id"),
        ({"username": "abc", "password": "long-enough-pw", "role": "operator", "extra": 1}, "extra"),
        ({"username": 5, "password": "long-enough-pw", "role": "operator"}, "username"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/users", headers=headers, json=body)
        assert response.status_code == 400, (body, response.get_json())
        assert field in error_of(response)["fields"], (body, response.get_json())


def test_create_user_forbidden_for_supervisor(client, auth_headers):
    response = client.post("/api/v1/users", headers=auth_headers("supervisor1"),
                           json={"username": "sneaky", "password": "long-enough-pw", "role": "admin"})
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    assert db.session.scalar(sa.select(User).where(User.username == "sneaky")) is None


MALFORMED = [b"{", b"[1,2", b"null", b"[]", b'"text"', b"\xff\xfe", b'{"username": }', b"123"]


def test_malformed_json_anywhere_is_400(client, app, auth_headers):
    headers = auth_headers("admin")
    json_posts = [rule.rule for rule in app.url_map.iter_rules()
                  if "POST" in rule.methods and rule.rule.startswith("/api/v1/") and "<" not in rule.rule]
    assert "/api/v1/users" in json_posts and "/api/v1/auth/token" in json_posts
    for path in json_posts:
        for body in MALFORMED:
            response = client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
            assert response.status_code == 400, (path, body, response.get_data(as_text=True)[:200])
            error_of(response)


def test_wrong_content_type_and_huge_body(client, auth_headers):
    headers = auth_headers("admin")
    response = client.post("/api/v1/users", headers=headers, data="username=x", content_type="text/plain")
    assert response.status_code in (400, 415)
    error_of(response)
    huge = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/users", headers={**headers, "Content-Type": "application/json"}, data=huge)
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"


def test_unknown_route_and_method_are_json(client, auth_headers):
    assert error_of(client.get("/api/v1/nope", headers=auth_headers("admin")))["code"] == "not_found"
    response = client.delete("/api/v1/districts", headers=auth_headers("admin"))
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"


def test_openapi_documents_every_v1_endpoint(client, app):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method) in documented, (path, method)
    assert spec["paths"]["/api/v1/users"]["post"]["requestBody"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"/api/docs/assets/swagger-ui-bundle.js" in docs.data
    assert b"cdn" not in docs.data.lower() and b"//unpkg" not in docs.data
    assert client.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "embedded"}
