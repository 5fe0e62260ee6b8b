"""The role matrix: every route × every role gives the expected status.

The expectations are written out here, not read from the code's declarations, so a changed or forgotten
`@roles(...)` fails this test; a new route fails it too until it is added to the table.
"""

from __future__ import annotations

import pytest

from tests.helpers import login_session

ROLES = ("admin", "supervisor1", "operator1", "provider1", "team1")
ROLE_OF = {"admin": "admin", "supervisor1": "supervisor", "operator1": "operator", "provider1": "provider_staff",
           "team1": "team_member"}
EVERYONE = {"admin", "supervisor", "operator", "provider_staff", "team_member"}
OPS = {"admin", "supervisor", "operator"}
PUBLIC = "public"
SIGNED = "signed"  # Twilio webhooks: refused to everyone without Twilio's signature, logged in or not

# (method, path) -> roles allowed. Paths are concrete URLs for rules with arguments.
MATRIX: dict[tuple[str, str], set[str] | str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/static/app.css"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/docs/assets/swagger-ui.css"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/device-events"): PUBLIC,  # devices authenticate with their own token
    ("POST", "/twilio/sms"): SIGNED,
    ("POST", "/twilio/voice"): SIGNED,
    ("POST", "/twilio/status"): SIGNED,
    ("GET", "/"): EVERYONE,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/ops/"): OPS,
    ("GET", "/provider/"): {"provider_staff", "team_member"},
    ("GET", "/api/v1/me"): EVERYONE,
    ("GET", "/api/v1/districts"): EVERYONE,
    ("GET", "/api/v1/communities"): EVERYONE,
    ("GET", "/api/v1/service-types"): EVERYONE,
    ("GET", "/api/v1/providers"): EVERYONE,
    ("GET", "/api/v1/teams"): EVERYONE,
    ("GET", "/api/v1/teams/1"): EVERYONE,
    # Duty: team members (of that team: checked after validation) and supervisors; the empty body stops at 400.
    ("POST", "/api/v1/teams/1/duty"): {"team_member", "admin", "supervisor"},
    ("GET", "/api/v1/operators"): OPS,
    ("GET", "/api/v1/households"): OPS,
    ("GET", "/api/v1/kpis/alarms"): OPS,
    ("POST", "/api/v1/incidents/999999/dispatch-team"): OPS,
    ("GET", "/api/v1/team-dispatches"): OPS | {"team_member"},
    ("POST", "/api/v1/team-dispatches/999999/ack"): {"team_member"},
    ("POST", "/api/v1/team-dispatches/999999/state"): {"team_member"},
    ("GET", "/api/v1/households/1"): OPS,
    ("GET", "/api/v1/residents"): OPS,
    ("GET", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/users"): {"admin"},
    ("POST", "/api/v1/notices"): {"admin", "supervisor"},
    # Incidents: the call centre only. In this order a holder claims, opens the screen, then releases.
    ("GET", "/api/v1/incidents"): OPS,
    ("GET", "/api/v1/incidents/1"): OPS,
    ("POST", "/api/v1/incidents/1/claim"): OPS,
    ("GET", "/api/v1/incidents/1/screen"): OPS,
    ("POST", "/api/v1/incidents/1/handover"): OPS,
    ("POST", "/api/v1/incidents/1/hold"): OPS,
    ("POST", "/api/v1/incidents/1/release"): OPS,
    # Action plan: the plan is read by any operator; a step or an outcome on an unclaimed incident 1 stops at
    # the validation of the empty body. Close takes no body, so it names an incident that does not exist.
    ("GET", "/api/v1/incidents/1/plan"): OPS,
    ("POST", "/api/v1/incidents/1/steps"): OPS,
    ("POST", "/api/v1/incidents/1/resolve"): OPS,
    ("POST", "/api/v1/incidents/999999/close"): OPS,
    # The response cascade (incidents that do not exist: nothing is started by this test) and the outbox.
    ("GET", "/api/v1/incidents/1/cascade"): OPS,
    ("POST", "/api/v1/incidents/999999/cascade"): OPS,
    ("POST", "/api/v1/incidents/999999/cascade/stop"): OPS,
    ("GET", "/api/v1/notifications"): {"admin", "supervisor"},
    ("GET", "/api/v1/notifications/usage"): {"admin", "supervisor"},  # 400 without ?month=
    ("POST", "/api/v1/notifications/999999/simulate-reply"): {"admin", "supervisor"},
    ("GET", "/admin/outbox/"): {"admin", "supervisor"},
    ("POST", "/admin/outbox/999999/reply"): {"admin", "supervisor"},
    # Device registry: the call centre reads, administrators change. Device 2 is the one retired.
    ("GET", "/api/v1/devices"): OPS,
    ("POST", "/api/v1/devices"): {"admin"},
    ("GET", "/api/v1/devices/1"): OPS,
    ("PATCH", "/api/v1/devices/1"): {"admin"},
    ("POST", "/api/v1/devices/1/token"): {"admin"},
    ("POST", "/api/v1/devices/2/retire"): {"admin"},
    ("POST", "/api/v1/devices/import"): {"admin"},
    ("GET", "/api/v1/device-models"): OPS,
    ("POST", "/api/v1/device-models"): {"admin"},
    ("PATCH", "/api/v1/device-models/1"): {"admin"},
    ("GET", "/admin/devices/"): OPS,
    ("GET", "/admin/devices/new"): {"admin"},
    ("POST", "/admin/devices/new"): {"admin"},
    ("GET", "/admin/devices/1"): OPS,
    ("POST", "/admin/devices/1"): {"admin"},
    ("POST", "/admin/devices/1/token"): {"admin"},
    ("POST", "/admin/devices/2/retire"): {"admin"},
    ("GET", "/admin/devices/import"): {"admin"},
    # Supervisor view: supervisors and admins only. Mass cancel and review stop at the empty body's
    # validation (mass cancel) or at an incident that does not exist (review).
    ("GET", "/ops/supervisor"): {"admin", "supervisor"},
    ("GET", "/api/v1/supervisor/operators"): {"admin", "supervisor"},
    ("GET", "/api/v1/supervisor/unclaimed"): {"admin", "supervisor"},
    ("POST", "/api/v1/incidents/mass-cancel"): {"admin", "supervisor"},
    ("GET", "/api/v1/incidents/reviews"): {"admin", "supervisor"},
    ("POST", "/api/v1/incidents/999999/review"): {"admin", "supervisor"},
    # Standing orders: the call centre (the empty body stops at 400; actions name one that does not exist).
    ("GET", "/api/v1/recurring-orders"): OPS,
    ("POST", "/api/v1/recurring-orders"): OPS,
    ("GET", "/api/v1/recurring-orders/999999"): OPS,
    ("POST", "/api/v1/recurring-orders/999999/pause"): OPS,
    ("POST", "/api/v1/recurring-orders/999999/resume"): OPS,
    ("POST", "/api/v1/recurring-orders/999999/end"): OPS,
    # Batch planning: supervisors and admins (the empty body stops at 400).
    ("POST", "/api/v1/planning/runs"): {"admin", "supervisor"},
    # Service dispatch (issue 6): the call centre takes, follows and steers orders; provider staff answer
    # their company's offers and run their jobs. Empty bodies stop at validation; ids 999999 do not exist.
    ("POST", "/api/v1/orders"): OPS,
    ("GET", "/api/v1/orders"): OPS,
    ("GET", "/api/v1/orders/999999"): OPS,
    ("GET", "/api/v1/orders/999999/candidates"): OPS,
    ("POST", "/api/v1/orders/999999/assign"): OPS,
    ("POST", "/api/v1/orders/999999/rematch"): OPS,
    ("POST", "/api/v1/orders/999999/cancel"): OPS,
    ("GET", "/api/v1/offers"): OPS | {"provider_staff"},
    ("POST", "/api/v1/offers/999999/accept"): {"provider_staff"},
    ("POST", "/api/v1/offers/999999/decline"): {"provider_staff"},
    ("POST", "/api/v1/offers/999999/extend"): {"provider_staff"},
    ("GET", "/api/v1/jobs"): {"provider_staff"},
    ("GET", "/api/v1/jobs/999999"): {"provider_staff"},
    ("POST", "/api/v1/jobs/999999/worker"): {"provider_staff"},
    ("POST", "/api/v1/jobs/999999/en-route"): {"provider_staff"},
    ("POST", "/api/v1/jobs/999999/arrived"): {"provider_staff"},
    ("POST", "/api/v1/jobs/999999/complete"): {"provider_staff"},
    ("POST", "/api/v1/jobs/999999/cannot-complete"): {"provider_staff"},
    ("GET", "/api/v1/follow-ups"): OPS,
    ("POST", "/api/v1/follow-ups/999999"): OPS,
    ("GET", "/api/v1/providers/1/scorecard"): OPS | {"provider_staff"},  # provider1 is staff of company 1
    # The order page and the call-back tasks of the green service key (the empty body closes nothing: 404).
    ("GET", "/ops/orders"): OPS,
    ("GET", "/api/v1/callback-tasks"): OPS,
    ("POST", "/api/v1/callback-tasks/999999"): OPS,
    # Company profiles (issue 6, item 6): the company proposes (the empty body stops at 400: nothing to change),
    # supervisors and admins decide (ids 999999 do not exist); provider1 is staff of company 1.
    ("GET", "/api/v1/providers/1"): EVERYONE,
    ("GET", "/api/v1/providers/1/workers"): OPS | {"provider_staff"},
    ("GET", "/api/v1/providers/1/change-requests"): {"admin", "supervisor", "provider_staff"},
    ("POST", "/api/v1/providers/1/change-requests"): {"provider_staff"},
    ("GET", "/api/v1/provider-change-requests"): {"admin", "supervisor"},
    ("POST", "/api/v1/provider-change-requests/999999/approve"): {"admin", "supervisor"},
    ("POST", "/api/v1/provider-change-requests/999999/reject"): {"admin", "supervisor"},
    ("GET", "/admin/provider-changes/"): {"admin", "supervisor"},
    ("POST", "/admin/provider-changes/999999/approve"): {"admin", "supervisor"},
    ("POST", "/admin/provider-changes/999999/reject"): {"admin", "supervisor"},
}


def _rule_matches(rule, method: str, path: str, app) -> bool:
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _ = adapter.match(path, method=method)
    except Exception:  # noqa: BLE001 - no match of any kind means "not this rule"
        return False
    return endpoint == rule.endpoint


def test_every_route_is_in_the_matrix(app):
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            covered = any(m == method and _rule_matches(rule, m, path, app) for m, path in MATRIX)
            assert covered, f"{method} {rule.rule} has no row in the role matrix"


def _call(client, method: str, path: str, csrf: str | None):
    headers = {"X-CSRFToken": csrf} if csrf else {}
    if method == "GET":
        return client.get(path, headers=headers)
    # A body that passes authorisation but not validation: the status then tells which layer answered.
    return client.open(path, method=method, json={}, headers=headers)


def _expected(allowed: set[str] | str, role: str | None, path: str) -> set[int]:
    if allowed == SIGNED:
        return {403}
    if allowed == PUBLIC:
        return {200, 400, 401}  # public: answered by the view itself (400 for the empty form/JSON)
    if role is None:
        return {401} if path.startswith("/api/") else {302}
    if role in allowed:
        return {200, 302, 400, 404}  # passed the role check; 302 redirects, 400 = our empty body
    return {403}


@pytest.mark.parametrize("username", [None, *ROLES])
def test_role_matrix(app, client, username):
    csrf = login_session(client, username) if username else None
    role = ROLE_OF.get(username)
    for (method, path), allowed in MATRIX.items():
        if (method, path) == ("POST", "/logout"):
            continue  # would end this session mid-matrix; checked below
        response = _call(client, method, path, csrf)
        assert response.status_code in _expected(allowed, role, path), (username, method, path, response.status_code)
        if response.status_code == 302 and role is None and allowed != PUBLIC:
            assert "/login" in response.headers["Location"]
        if response.status_code == 403 and path.startswith("/api/"):
            assert response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("username", ROLES)
def test_role_matrix_with_bearer_tokens(client, auth_headers, username):
    headers = auth_headers(username)
    role = ROLE_OF[username]
    for (method, path), allowed in MATRIX.items():
        if not path.startswith("/api/v1/") or allowed in (PUBLIC, SIGNED):
            continue
        response = client.get(path, headers=headers) if method == "GET" else client.open(
            path, method=method, json={}, headers=headers)
        expected = {200, 400, 404} if role in allowed else {403}  # 404: no such row (e.g. no incident 1)
        assert response.status_code in expected, (username, method, path, response.status_code)


def test_logout_ends_the_session(client):
    csrf = login_session(client, "operator1")
    assert client.get("/ops/").status_code == 200
    assert client.post("/logout", headers={"X-CSRFToken": csrf}).status_code == 302
    assert client.get("/ops/").status_code == 302


def test_session_writes_need_csrf(client):
    login_session(client, "admin")
    response = client.post("/api/v1/users", json={"username": "csrfless", "password": "long-enough-pw",
                                                  "role": "operator"})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]["message"]
