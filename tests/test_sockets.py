"""Socket.IO authentication and rooms: `/ops` for the call centre, `/provider` for companies and teams.

Fast cases use Flask-SocketIO's test client; the live cases connect real WebSocket clients to gunicorn in
production mode (Redis message queue), with a bearer token or the console's login cookie.
"""

from __future__ import annotations

import pytest
import requests
import socketio as sio
import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer

from eldercare.core.events import OPS_NAMESPACE, PROVIDER_NAMESPACE, emit_now, provider_room, team_room
from eldercare.core.models import User
from eldercare.extensions import socketio
from tests.conftest import DEMO_PASSWORD, token_for
from tests.helpers import csrf_from, login_session

NAMESPACES = (OPS_NAMESPACE, PROVIDER_NAMESPACE)
ALLOWED = {"admin": OPS_NAMESPACE, "supervisor1": OPS_NAMESPACE, "operator1": OPS_NAMESPACE,
           "provider1": PROVIDER_NAMESPACE, "team1": PROVIDER_NAMESPACE}


def connects(app, namespace: str, **kwargs) -> bool:
    client = socketio.test_client(app, namespace=namespace, **kwargs)
    try:
        return client.is_connected(namespace)
    finally:
        if client.is_connected(namespace):
            client.disconnect(namespace=namespace)


# --- Flask-SocketIO test client -----------------------------------------------------------------------

@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("auth", [None, {}, {"token": ""}, {"token": "not-a-token"}, {"token": 42},
                                  {"tok": "x"}, "a string"])
def test_connection_without_valid_credentials_is_refused(app, db_session, namespace, auth):
    assert not connects(app, namespace, auth=auth)


@pytest.mark.parametrize(("username", "allowed"), ALLOWED.items())
def test_each_role_connects_to_its_namespace_only(app, client, username, allowed):
    token = token_for(client, username)
    for namespace in NAMESPACES:
        assert connects(app, namespace, auth={"token": token}) is (namespace == allowed), (username, namespace)


def test_token_signed_with_another_key_is_refused(app, db_session):
    admin = db_session.scalar(sa.select(User).where(User.username == "admin"))
    forged = URLSafeTimedSerializer("not-the-secret", salt="eldercare.api-token").dumps(
        {"uid": admin.id, "v": admin.token_version})
    assert not connects(app, OPS_NAMESPACE, auth={"token": forged})


def test_revoked_token_is_refused(app, client, db_session):
    token = token_for(client, "operator1")
    assert connects(app, OPS_NAMESPACE, auth={"token": token})
    db_session.execute(sa.update(User).where(User.username == "operator1")
                       .values(token_version=User.token_version + 1))
    assert not connects(app, OPS_NAMESPACE, auth={"token": token})


def test_deactivated_user_is_refused(app, client, db_session):
    token = token_for(client, "provider1")
    db_session.execute(sa.update(User).where(User.username == "provider1").values(active=False))
    assert not connects(app, PROVIDER_NAMESPACE, auth={"token": token})


def test_console_session_authenticates_the_socket(app, client):
    login_session(client, "operator1")
    assert connects(app, OPS_NAMESPACE, flask_test_client=client)
    assert not connects(app, PROVIDER_NAMESPACE, flask_test_client=client)


def test_provider_staff_only_hear_their_own_company(app, client, db_session):
    own, other = (db_session.scalar(sa.select(User.provider_id).where(User.username == name))
                  for name in ("provider1", "provider2"))
    team = db_session.scalar(sa.select(User.team_id).where(User.username == "team1"))
    provider = socketio.test_client(app, namespace=PROVIDER_NAMESPACE, auth={"token": token_for(client, "provider1")})
    member = socketio.test_client(app, namespace=PROVIDER_NAMESPACE, auth={"token": token_for(client, "team1")})
    try:
        emit_now("order.updated", {"id": 1, "status": "x"}, namespace=PROVIDER_NAMESPACE, room=provider_room(other))
        emit_now("order.updated", {"id": 2, "status": "x"}, namespace=PROVIDER_NAMESPACE, room=provider_room(own))
        emit_now("order.updated", {"id": 3, "status": "x"}, namespace=PROVIDER_NAMESPACE, room=team_room(team))
        emit_now("incident.created", {"id": 4, "status": "new"}, namespace=OPS_NAMESPACE, room="ops")
        heard = [(e["name"], e["args"][0]["id"]) for e in provider.get_received(PROVIDER_NAMESPACE)]
        assert heard == [("order.updated", 2)]
        assert [e["args"][0]["id"] for e in member.get_received(PROVIDER_NAMESPACE)] == [3]
    finally:
        provider.disconnect(namespace=PROVIDER_NAMESPACE)
        member.disconnect(namespace=PROVIDER_NAMESPACE)


def test_a_client_cannot_join_rooms_itself(app, client, db_session):
    other = db_session.scalar(sa.select(User.provider_id).where(User.username == "provider2"))
    provider = socketio.test_client(app, namespace=PROVIDER_NAMESPACE, auth={"token": token_for(client, "provider1")})
    try:
        provider.emit("join", {"room": provider_room(other)}, namespace=PROVIDER_NAMESPACE)
        provider.emit("join_room", provider_room(other), namespace=PROVIDER_NAMESPACE)
        emit_now("order.updated", {"id": 5, "status": "x"}, namespace=PROVIDER_NAMESPACE, room=provider_room(other))
        assert provider.get_received(PROVIDER_NAMESPACE) == []
    finally:
        provider.disconnect(namespace=PROVIDER_NAMESPACE)


# --- real WebSocket clients against gunicorn (production mode, Redis message queue) ---------------------

def live_connect(live_server, namespace: str, **kwargs) -> sio.SimpleClient:
    client = sio.SimpleClient()
    client.connect(live_server.url, namespace=namespace, transports=["websocket"], wait_timeout=10, **kwargs)
    return client


def assert_live_refused(live_server, namespace: str, **kwargs) -> None:
    # The transport connects and the server answers the namespace with CONNECT_ERROR (not: server down).
    with pytest.raises(sio.exceptions.ConnectionError, match=f"failed to connect: {namespace}"):
        live_connect(live_server, namespace, **kwargs).disconnect()


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_live_connection_without_credentials_is_refused(live_server, namespace):
    assert_live_refused(live_server, namespace)
    assert_live_refused(live_server, namespace, auth={"token": "forged.token.value"})


def test_live_operator_token_opens_ops_only(live_server):
    token = live_server.token("operator1")
    with live_connect(live_server, OPS_NAMESPACE, auth={"token": token}) as client:
        assert client.connected and client.sid
    assert_live_refused(live_server, PROVIDER_NAMESPACE, auth={"token": token})


def test_live_provider_token_opens_provider_only(live_server):
    token = live_server.token("provider1")
    with live_connect(live_server, PROVIDER_NAMESPACE, auth={"token": token}) as client:
        assert client.connected
    assert_live_refused(live_server, OPS_NAMESPACE, auth={"token": token})


def console_cookie(live_server, username: str) -> str:
    with requests.Session() as http:
        token = csrf_from(http.get(f"{live_server.url}/login", timeout=10).text)
        response = http.post(f"{live_server.url}/login", timeout=10, allow_redirects=False,
                             data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.text[:300]
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def test_live_console_session_cookie_authenticates(live_server):
    cookie = console_cookie(live_server, "operator1")
    with live_connect(live_server, OPS_NAMESPACE, headers={"Cookie": cookie}) as client:
        assert client.connected
    assert_live_refused(live_server, PROVIDER_NAMESPACE, headers={"Cookie": cookie})

    provider_cookie = console_cookie(live_server, "provider1")
    with live_connect(live_server, PROVIDER_NAMESPACE, headers={"Cookie": provider_cookie}) as client:
        assert client.connected
    assert_live_refused(live_server, OPS_NAMESPACE, headers={"Cookie": provider_cookie})


def test_live_tampered_session_cookie_is_refused(live_server):
    cookie = console_cookie(live_server, "operator1")
    name, _, value = cookie.partition("=")
    assert_live_refused(live_server, OPS_NAMESPACE, headers={"Cookie": f"{name}={value[:-4]}AAAA"})
