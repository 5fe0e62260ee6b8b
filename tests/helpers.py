"""Small helpers shared by tests."""

from __future__ import annotations

import re

from tests.conftest import DEMO_PASSWORD

CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_META.search(html) or CSRF_INPUT.search(html)
    assert match, "no CSRF token on the page"
    return next(group for group in match.groups() if group)


def login_session(client, username: str, password: str = DEMO_PASSWORD) -> str:
    """Log the test client in through the login form; returns a CSRF token for later writes."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return csrf_from(client.get("/login").get_data(as_text=True))


def error_of(response) -> dict:
    body = response.get_json()
    assert isinstance(body, dict) and "error" in body, response.get_data(as_text=True)[:300]
    assert set(body["error"]) >= {"code", "message", "fields"}
    return body["error"]


def quiet_device(session, protocol: str):
    """An active demo device of `protocol` whose home has no open incident (end-to-end tests commit theirs:
    they pick from the lowest ids, unit tests from the highest)."""
    import sqlalchemy as sa

    from eldercare.alerts.models import OPEN_INCIDENT_STATUSES, Incident
    from eldercare.devices.models import Device

    open_homes = sa.select(Incident.household_id).where(Incident.status.in_(OPEN_INCIDENT_STATUSES),
                                                        Incident.household_id.is_not(None))
    return session.scalars(sa.select(Device).where(Device.protocol == protocol, Device.status == "active",
                                                   Device.household_id.not_in(open_homes))
                           .order_by(Device.id.desc())).first()


def crc_arc(data: bytes) -> int:
    """CRC-16/ARC, written from the standard (independent of the receiver's implementation)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def dc09_frame(account: str, seq: int, data: str, token: str = "ADM-CID", when=None) -> bytes:
    """A SIA DC-09 frame built from the standard: LF, CRC, 0LLL length, "id", seq, L0, #acct, [data], time, CR."""
    from datetime import UTC, datetime

    stamp = (when or datetime.now(UTC)).strftime("_%H:%M:%S,%m-%d-%Y")
    account_part = f"#{account}" if account else ""
    message = f'"{token}"{seq:04d}L0{account_part}[{data}]{stamp}'.encode()
    return b"\n" + f"{crc_arc(message):04X}{len(message):04X}".encode() + message + b"\r"


def user_named(session, username: str):
    import sqlalchemy as sa

    from eldercare.core.models import User

    return session.scalar(sa.select(User).where(User.username == username))


def quiet_homes(session, count: int, *, first: bool = False) -> list:
    """Active devices in `count` households with no open incident (from the highest ids, or the lowest)."""
    import sqlalchemy as sa

    from eldercare.alerts.models import OPEN_INCIDENT_STATUSES, Incident
    from eldercare.devices.models import Device

    open_homes = sa.select(Incident.household_id).where(Incident.status.in_(OPEN_INCIDENT_STATUSES),
                                                        Incident.household_id.is_not(None))
    order = Device.id if first else Device.id.desc()
    devices = session.scalars(sa.select(Device).where(Device.status == "active", Device.household_id.is_not(None),
                                                      Device.household_id.not_in(open_homes))
                              .order_by(order).limit(200)).all()
    return list({d.household_id: d for d in devices}.values())[:count]


def open_incident(session, device, type_: str = "sos", ago_s: int = 0):
    """An incident opened by `device` as the intake would, committed (a savepoint under `db_session`)."""
    from datetime import timedelta

    from eldercare.alerts.models import Incident
    from eldercare.alerts.services import open_or_merge
    from eldercare.core.time import utcnow

    incident_id = open_or_merge(device=device, type_=type_, at=utcnow() - timedelta(seconds=ago_s),
                                actor=f"device:{device.id}")
    session.commit()
    return session.get(Incident, incident_id)


def http_home_with_one_contact(engine, *, offset: int, phone: str, name: str) -> tuple[str, int]:
    """For end-to-end tests, in the committed database: an HTTP device with a fresh token, in a home with no
    open incident, whose only contact is `name` at `phone` (not told in parallel). Returns (token, household)."""
    import sqlalchemy as sa

    from eldercare.devices import tokens

    with engine.begin() as conn:
        device_id, household_id = conn.execute(sa.text(
            "SELECT d.id, d.household_id FROM devices d WHERE d.protocol = 'http' AND d.status = 'active'"
            " AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.household_id = d.household_id AND i.status IN"
            " ('new', 'claimed', 'in_progress', 'on_hold', 'dispatched', 'escalated')) ORDER BY d.id"
            " OFFSET :offset LIMIT 1"), {"offset": offset}).one()
        token, token_hash = tokens.new_token(device_id)
        conn.execute(sa.text("UPDATE devices SET token_hash = :h WHERE id = :d"), {"h": token_hash, "d": device_id})
        conn.execute(sa.text("DELETE FROM contacts WHERE household_id = :h"), {"h": household_id})
        conn.execute(sa.text(
            "INSERT INTO contacts (household_id, priority, name, relation, phone, language, has_key, lives_nearby)"
            " VALUES (:h, 1, :n, 'child', :p, 'zh', true, true)"), {"h": household_id, "p": phone, "n": name})
        conn.execute(sa.text("UPDATE households SET notify_family_parallel = false WHERE id = :h"),
                     {"h": household_id})
    return token, household_id
