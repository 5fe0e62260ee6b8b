"""Side effects leave a transaction only once it commits: `on_commit` hooks and `SocketEvent.publish`."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from eldercare.alerts.events import NOTICE
from eldercare.core.db import on_commit
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM, EventPayloadSchema, SocketEvent
from eldercare.extensions import socketio
from tests.conftest import token_for

PROBE = SocketEvent("test.probe", EventPayloadSchema())


# --- on_commit ------------------------------------------------------------------------------------

def test_hook_runs_after_commit_only(db_session):
    ran = []
    on_commit(db_session, lambda: ran.append("a"))
    db_session.flush()
    assert ran == []
    db_session.commit()
    assert ran == ["a"]
    db_session.commit()
    assert ran == ["a"], "a hook runs once"


def test_hook_is_dropped_on_rollback(db_session):
    ran = []
    db_session.execute(sa.text("SELECT 1"))
    on_commit(db_session, lambda: ran.append("rolled back"))
    db_session.rollback()
    db_session.commit()
    assert ran == []


def test_hook_registered_before_any_query_is_dropped_on_rollback(db_session):
    ran = []
    db_session.commit()  # no transaction in progress now
    on_commit(db_session, lambda: ran.append("x"))
    db_session.rollback()
    db_session.commit()
    assert ran == []


def test_releasing_a_savepoint_is_not_the_commit(db_session):
    ran = []
    on_commit(db_session, lambda: ran.append("outer"))
    with db_session.begin_nested():
        on_commit(db_session, lambda: ran.append("inner"))
    assert ran == [], "SQLAlchemy reports a savepoint release as after_commit; hooks must keep waiting"
    db_session.commit()
    assert ran == ["outer", "inner"]


def failing_savepoint(session, work: Callable[[], None]) -> None:
    with session.begin_nested():
        work()
        raise RuntimeError("the savepoint's work failed")


def test_rolled_back_savepoint_drops_only_its_own_hooks(db_session):
    ran = []

    def register_with_released_inner() -> None:
        on_commit(db_session, lambda: ran.append("dropped"))
        with db_session.begin_nested():
            on_commit(db_session, lambda: ran.append("dropped too (released inside the failed one)"))

    on_commit(db_session, lambda: ran.append("kept"))
    with pytest.raises(RuntimeError):
        failing_savepoint(db_session, register_with_released_inner)
    with db_session.begin_nested():
        on_commit(db_session, lambda: ran.append("kept too"))
        with pytest.raises(RuntimeError):
            failing_savepoint(db_session, lambda: on_commit(db_session, lambda: ran.append("dropped (inner)")))
    db_session.commit()
    assert ran == ["kept", "kept too"]


def test_a_failing_hook_does_not_stop_the_others(db_session, caplog):
    ran = []

    def broken() -> None:
        raise ConnectionError("broker down")

    on_commit(db_session, broken)
    on_commit(db_session, lambda: ran.append("next"))
    db_session.commit()
    assert ran == ["next"]
    assert "after-commit hook" in caplog.text


# --- SocketEvent.publish ----------------------------------------------------------------------------

@pytest.fixture
def ops_socket(app, client):
    # Connect before the test's own work: the connect handler ends the (shared) test session.
    sock = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token_for(client, "operator1")})
    assert sock.is_connected(OPS_NAMESPACE)
    sock.get_received(OPS_NAMESPACE)
    yield sock
    sock.disconnect(namespace=OPS_NAMESPACE)


def received(sock, name: str) -> list[dict]:
    return [event["args"][0] for event in sock.get_received(OPS_NAMESPACE) if event["name"] == name]


def test_publish_emits_after_commit_not_before(db_session, ops_socket):
    PROBE.publish({"id": 7, "status": "new", "ignored": "not in the schema"}, namespace=OPS_NAMESPACE,
                  room=OPS_ROOM)
    db_session.flush()
    assert received(ops_socket, "test.probe") == []
    db_session.commit()
    assert received(ops_socket, "test.probe") == [{"id": 7, "status": "new"}]


def test_publish_is_dropped_on_rollback(db_session, ops_socket):
    db_session.execute(sa.text("SELECT 1"))
    PROBE.publish({"id": 8, "status": "new"}, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    db_session.rollback()
    db_session.commit()
    assert received(ops_socket, "test.probe") == []


def test_publish_inside_a_failed_savepoint_is_never_emitted(db_session, ops_socket):
    with pytest.raises(RuntimeError):
        failing_savepoint(db_session, lambda: PROBE.publish({"id": 9, "status": "claimed"},
                                                            namespace=OPS_NAMESPACE, room=OPS_ROOM))
    db_session.commit()
    assert received(ops_socket, "test.probe") == []


@pytest.mark.parametrize("payload", [
    {"status": "new"},
    {"id": 1},
    {"id": None, "status": "new"},
    {"id": 1, "status": None},
    {},
])
def test_publish_refuses_a_payload_without_id_or_status(db_session, ops_socket, payload):
    with pytest.raises(ValueError):
        PROBE.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    db_session.commit()
    assert received(ops_socket, "test.probe") == [], "nothing half-valid is queued"


def test_publish_refuses_a_non_integer_id(db_session):
    with pytest.raises(ValueError):
        PROBE.publish({"id": "abc", "status": "new"}, namespace=OPS_NAMESPACE, room=OPS_ROOM)


def test_notice_payload_round_trips_through_json(db_session, ops_socket):
    payload = {"id": 3, "status": "sent", "audience": "ops", "text": "大雪：上门服务可能延误",
               "sent_at": "2026-01-05T08:00:00Z", "sender": "supervisor1"}
    NOTICE.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    db_session.commit()
    [event] = received(ops_socket, "notice")
    assert event == payload
    assert json.loads(json.dumps(event, ensure_ascii=False)) == payload
    with pytest.raises(ValueError):
        NOTICE.publish({"id": 3, "status": "sent", "audience": "ops"}, namespace=OPS_NAMESPACE, room=OPS_ROOM)
