"""Supervision: missed heartbeats, batteries, homes where nothing moves; sweeps read only what is due."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from eldercare.alerts.models import Incident, Notification
from eldercare.core.time import utcnow
from eldercare.devices import supervision
from eldercare.devices.intake import Inbound
from eldercare.devices.services import heartbeat_deadline, ingest_batch
from eldercare.households.models import Household
from tests.helpers import quiet_device


@pytest.fixture
def device(db_session):
    return quiet_device(db_session, "watch")


def inbound(device, type_="heartbeat", key="k", **extra):
    return Inbound(device_id=device.id, protocol=device.protocol, idempotency_key=key, type=type_,
                   received_at=extra.pop("received_at", utcnow()), **extra)


def open_incidents(db_session, device, type_):
    return db_session.scalars(sa.select(Incident).where(Incident.dedupe_key == f"tech:d{device.id}:{type_}",
                                                        Incident.status == "new")).all()


def test_heartbeat_sets_the_deadline(db_session, device):
    seen = utcnow()
    ingest_batch([inbound(device, received_at=seen)])
    db_session.refresh(device)
    assert device.next_heartbeat_due == heartbeat_deadline(seen, device.heartbeat_interval_s)
    assert device.next_heartbeat_due == seen + timedelta(seconds=2 * device.heartbeat_interval_s + 30)


def test_missed_deadline_goes_offline_once_and_return_resolves_it(db_session, device):
    ingest_batch([inbound(device, received_at=utcnow() - timedelta(hours=5))])
    assert device.id in supervision.mark_overdue_offline()
    db_session.refresh(device)
    assert device.online is False and device.next_heartbeat_due is None
    [incident] = open_incidents(db_session, device, "offline")
    assert incident.priority == 2
    assert device.id not in supervision.mark_overdue_offline()  # off the index until it reports again
    ingest_batch([inbound(device)])
    db_session.refresh(device)
    db_session.refresh(incident)
    assert device.online is True and incident.status == "resolved"


def test_sweep_reads_only_due_devices(db_session, device):
    ingest_batch([inbound(device)])  # fresh deadline in the future
    assert device.id not in supervision.mark_overdue_offline()
    db_session.refresh(device)
    assert device.online is True


def test_battery_below_threshold_opens_one_incident_and_recharge_resolves_it(db_session, device):
    ingest_batch([inbound(device, battery_pct=80)])
    ingest_batch([inbound(device, battery_pct=12)])
    ingest_batch([inbound(device, battery_pct=10)])  # still low: no second incident, no merge spam
    [incident] = open_incidents(db_session, device, "low_battery")
    assert incident.event_count == 1
    ingest_batch([inbound(device, battery_pct=25)])  # within the hysteresis band: stays open
    db_session.refresh(incident)
    assert incident.status == "new"
    ingest_batch([inbound(device, battery_pct=90)])
    db_session.refresh(incident)
    assert incident.status == "resolved"


@pytest.fixture
def watched_home(db_session, device):
    household = db_session.get(Household, device.household_id)
    household.no_activity_hours = 12
    household.phone = household.phone or "+8647112345678"
    db_session.commit()
    return household


def test_no_activity_gives_a_second_chance_then_alarms(app, db_session, device, watched_home, monkeypatch):
    monkeypatch.setitem(app.config, "ELDERCARE_NO_ACTIVITY_GRACE_S", 60)
    ingest_batch([inbound(device, "activity", key="moved", received_at=utcnow() - timedelta(hours=13))])
    db_session.refresh(watched_home)
    assert watched_home.no_activity_due_at is not None
    assert supervision.check_no_activity() == []  # first: the second chance
    db_session.refresh(watched_home)
    assert watched_home.no_activity_stage == 1
    prompt = db_session.scalars(sa.select(Notification).where(Notification.purpose_type == "no_activity_check",
                                                              Notification.purpose_id == watched_home.id)).one()
    assert prompt.to_address == watched_home.phone
    assert supervision.check_no_activity(now=utcnow() + timedelta(seconds=61)) != []
    alarm = db_session.scalars(sa.select(Incident).where(Incident.dedupe_key == f"life:h{watched_home.id}",
                                                         Incident.type == "no_activity")).one()
    assert alarm.priority == 1


def test_sign_of_life_during_the_second_chance_stands_down(db_session, device, watched_home):
    ingest_batch([inbound(device, "activity", key="old", received_at=utcnow() - timedelta(hours=13))])
    supervision.check_no_activity()
    ingest_batch([inbound(device, "activity", key="pressed")])
    db_session.refresh(watched_home)
    assert watched_home.no_activity_stage == 0
    assert watched_home.no_activity_due_at > utcnow() + timedelta(hours=11)
    assert supervision.check_no_activity(now=utcnow() + timedelta(hours=1)) == []
