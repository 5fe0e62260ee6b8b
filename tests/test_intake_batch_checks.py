"""What the intake batch decides for a whole batch at once: device tokens, per-device rate limits (gate), and
the timers of the incidents it opens (one upsert, one countdown message that walks through the kinds)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from eldercare.core import timers
from eldercare.core.models import Timer
from eldercare.core.time import utcnow
from eldercare.devices import gate, tokens
from eldercare.devices.intake import Inbound, RateLimit
from eldercare.devices.models import DeviceEvent
from eldercare.devices.services import ingest_batch
from tests.helpers import quiet_device


def event(device_id: int, key: str, **extra: object) -> Inbound:
    return Inbound(device_id=device_id, protocol="http", idempotency_key=key, type="test", received_at=utcnow(),
                   **extra)


def test_a_batch_refuses_bad_tokens_and_the_events_over_the_limit_and_stores_the_rest(db_session):
    device = quiet_device(db_session, "http")
    token, device.token_hash = tokens.new_token(device.id)
    db_session.flush()
    secret = tokens.parse(token)[1]
    limit = RateLimit(3, 10)
    items = [event(device.id, "forged", token_secret="x" * 43, rate_limit=limit),
             *(event(device.id, f"ok-{i}", token_secret=secret, rate_limit=limit) for i in range(5))]
    outcomes = ingest_batch(items)
    # The forged one counts for nothing; of the rest, the first three in arrival order are within the limit.
    assert [o.refused for o in outcomes] == [gate.UNAUTHENTICATED, None, None, None,
                                             gate.RATE_LIMITED, gate.RATE_LIMITED]
    stored = db_session.scalars(sa.select(DeviceEvent.idempotency_key)
                                .where(DeviceEvent.device_id == device.id)).all()
    assert sorted(stored) == ["ok-0", "ok-1", "ok-2"]
    # The window is shared with the next batch.
    assert ingest_batch([event(device.id, "later", token_secret=secret, rate_limit=limit)])[0].refused \
        == gate.RATE_LIMITED


def test_retired_device_is_refused(db_session):
    device = quiet_device(db_session, "http")
    token, device.token_hash = tokens.new_token(device.id)
    device.status = "retired"
    db_session.flush()
    [outcome] = ingest_batch([event(device.id, "r", token_secret=tokens.parse(token)[1])])
    assert outcome.refused == gate.UNAUTHENTICATED


class _Sent:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []

    def apply_async(self, args: tuple, **kwargs: object) -> None:
        self.calls.append((args, kwargs))


def test_arm_many_upserts_every_kind_and_sends_one_message_that_walks_the_kinds(db_session, monkeypatch):
    task, sent = timers.fire_timer, _Sent()
    monkeypatch.setattr(timers, "fire_timer", sent)
    t0 = utcnow()
    due: dict[tuple[str, int], datetime] = {("test.b", 7): t0 + timedelta(seconds=60),
                                            ("test.a", 7): t0 + timedelta(seconds=30),
                                            ("test.a", 8): t0 + timedelta(seconds=31)}
    timers.arm_many(due)
    db_session.commit()
    rows = db_session.execute(sa.select(Timer.kind, Timer.ref_id, Timer.due_at, Timer.id)
                              .where(Timer.kind.in_(["test.a", "test.b"]))).all()
    assert {(r.kind, r.ref_id): r.due_at for r in rows} == due
    ids = {(r.kind, r.ref_id): r.id for r in rows}
    [((chain,), options)] = sent.calls
    # The timers by key: the upsert is queued (core.sql), nothing waits for the ids it made.
    assert [(group["kind"], group["refs"]) for group in chain] == [("test.a", [7, 8]), ("test.b", [7])]
    assert options["eta"] == t0 + timedelta(seconds=31)  # the latest of the first kind's timers

    # The worker runs it then: it fires the first kind's timers and sends itself on for the next kind.
    fired: list[int] = []
    monkeypatch.setattr(timers, "fire", lambda timer_id, now=None: fired.append(timer_id) or True)
    sent.calls.clear()
    assert task.run(chain) is True
    assert sorted(fired) == sorted([ids["test.a", 7], ids["test.a", 8]])
    assert sent.calls == [((chain[1:],), {"eta": t0 + timedelta(seconds=60)})]

    # A message sent before this change named the timers by id: still fired.
    fired.clear()
    assert task.run([{"eta": t0.isoformat(), "ids": [ids["test.b", 7]]}]) is True
    assert fired == [ids["test.b", 7]]


def test_an_event_another_batch_stored_meanwhile_is_counted_once(app, db_session, monkeypatch):
    """Two processes receive the same retransmission: the second's read saw it as new, but the first stored
    it before the second's insert. The second batch runs again, sees a repeat, and counts nothing twice."""
    from eldercare.alerts.models import Incident
    from eldercare.devices import services
    from eldercare.devices.intake import intake_for

    device = quiet_device(db_session, "dc09")
    first = intake_for(app).store_sync(Inbound(device_id=device.id, protocol="dc09", idempotency_key="race-1",
                                               type="sos", received_at=utcnow()))
    real, calls = services._device_facts, []

    def read_before_the_other_commit(items):  # the first read misses what the other batch stored
        facts, known = real(items)
        calls.append(len(known))
        return (facts, {}) if len(calls) == 1 else (facts, known)

    monkeypatch.setattr(services, "_device_facts", read_before_the_other_commit)
    again = intake_for(app).store_sync(Inbound(device_id=device.id, protocol="dc09", idempotency_key="race-1",
                                               type="sos", received_at=utcnow()))
    assert calls == [1, 1]  # the batch ran twice
    assert (again.duplicate, again.event_id, again.incident_id) == (True, first.event_id, first.incident_id)
    assert db_session.get(Incident, first.incident_id).event_count == 1
    assert db_session.scalars(sa.select(sa.func.count()).select_from(DeviceEvent)
                              .where(DeviceEvent.device_id == device.id)).one() == 1
