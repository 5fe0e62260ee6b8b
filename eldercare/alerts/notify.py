"""The one notification service: every SMS and voice call the platform sends, as a record with a state.

    queued → sent → delivered | failed | answered | acknowledged | expired

`create` records a notification for a purpose (a cascade step, an offer, a follow-up) and has the worker
send it after commit. Sending (`claim_attempt` → sender → `record_sent` / `record_failure`) is guarded by
the database: an attempt is claimed with a conditional UPDATE that also leases the row for `LEASE`, so two
deliveries of the same task, or a task and the sweep, never both send; the claim is committed before the
request leaves, so a worker killed mid-request leaves a record of the attempt and the sweep retries after
the lease (at-least-once: that one case may send twice; nothing else does).

Retries: Twilio's 5xx, 429 and timeouts are retried after BACKOFF_S (2 s, 10 s, 30 s) up to MAX_ATTEMPTS,
then the notification fails ("gave up"); a 4xx fails at once. Failure and acknowledgement are passed to
the purpose's handler (`@on_acknowledged("cascade_step")`), which decides what comes next (the cascade calls
instead of texting, or moves to the next person).

Urgent notifications (alarms) are sent at any hour and are never rate-limited; others wait for the end of
quiet hours (22:00–07:00, centre time) and are limited per recipient per hour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from eldercare.alerts import messages
from eldercare.alerts.models import Notification
from eldercare.alerts.senders import Outgoing, SendFailed
from eldercare.core.db import on_commit
from eldercare.core.time import utcnow
from eldercare.devices.sms import normalise_number
from eldercare.extensions import db

log = logging.getLogger(__name__)

CENTRE_TZ = ZoneInfo("Asia/Shanghai")
QUIET_FROM, QUIET_TO = time(22, 0), time(7, 0)
MAX_ATTEMPTS = 4
BACKOFF_S = (2, 10, 30)
LEASE = timedelta(seconds=120)
RATE_PER_HOUR = 6  # non-urgent messages to one number
REPLY_WINDOW = timedelta(hours=2)  # a reply acknowledges a notification sent this recently
ACK_WORDS = frozenset({"1", "Y", "YES", "OK", "好", "好的", "收到", "是", "去", "马上到"})
ACKNOWLEDGEABLE = ("queued", "sent", "delivered", "answered", "expired")  # a late "I'm going" still counts

Handler = Callable[[int, Notification], None]
_ON_ACK: dict[str, Handler] = {}
_ON_FAILED: dict[str, Handler] = {}


def on_acknowledged(purpose_type: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ON_ACK[purpose_type] = fn
        return fn
    return register


def on_failed(purpose_type: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ON_FAILED[purpose_type] = fn
        return fn
    return register


@dataclass(frozen=True)
class Recipient:
    type: str  # contact, grid_leader, team, provider, user
    id: int | None
    phone: str | None
    language: str | None = "zh"
    name: str = ""


# --- recording ------------------------------------------------------------------------------------------

def create(*, purpose_type: str, purpose_id: int | None, recipient: Recipient, channel: str, template: str,
           context: dict, urgent: bool, expires_at: datetime | None = None) -> Notification:
    """Record one notification and have it sent after commit (or at the end of quiet hours)."""
    now = utcnow()
    rendered = messages.render(template, recipient.language, **context)
    number = normalise_number(recipient.phone or "")
    notification = Notification(
        purpose_type=purpose_type, purpose_id=purpose_id, recipient_type=recipient.type,
        recipient_id=recipient.id, to_address=number or (recipient.phone or "")[:64], channel=channel,
        template=template, language=rendered.language, body=rendered.body, urgent=urgent, state="queued",
        attempts=0, next_attempt_at=now if urgent else quiet_hours_end(now), expires_at=expires_at,
    )
    if number is None:
        notification.state, notification.error_code, notification.next_attempt_at = "failed", "invalid_number", None
    elif not urgent and _sent_last_hour(number) >= int(current_app.config.get("ELDERCARE_NOTIFY_RATE_PER_HOUR",
                                                                              RATE_PER_HOUR)):
        notification.state, notification.error_code, notification.next_attempt_at = "failed", "rate_limited", None
    db.session.add(notification)
    db.session.flush()
    if notification.state == "queued" and notification.next_attempt_at <= now:
        schedule(notification.id)
    elif notification.state == "failed":
        log.warning("notification %d not sent: %s", notification.id, notification.error_code)
    return notification


def schedule(notification_id: int, countdown: float = 0) -> None:
    from eldercare.alerts.tasks import send_notification

    on_commit(db.session, lambda: send_notification.apply_async((notification_id,), countdown=countdown))


def quiet_hours_end(now: datetime) -> datetime:
    """`now`, or the end of the quiet hours when `now` falls in them (centre time)."""
    local = now.astimezone(CENTRE_TZ)
    if QUIET_TO <= local.time() < QUIET_FROM:
        return now
    morning = local.replace(hour=QUIET_TO.hour, minute=0, second=0, microsecond=0)
    if local.time() >= QUIET_FROM:
        morning += timedelta(days=1)
    return morning.astimezone(now.tzinfo)


def _sent_last_hour(number: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.to_address == number, Notification.urgent.is_(False),
        Notification.state != "failed", Notification.created_at > utcnow() - timedelta(hours=1))) or 0


# --- sending (driven by alerts.tasks.send_notification) ---------------------------------------------------

def claim_attempt(notification_id: int) -> Outgoing | None:
    """Take the next attempt of a due notification, or None when it is not due, sent or being sent."""
    now = utcnow()
    row = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.state == "queued",
               Notification.next_attempt_at <= now,
               sa.or_(Notification.expires_at.is_(None), Notification.expires_at > now))
        .values(attempts=Notification.attempts + 1, next_attempt_at=now + LEASE, updated_at=now)
        .returning(Notification.channel, Notification.to_address, Notification.body, Notification.language)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return None
    return Outgoing(notification_id, row.channel, row.to_address, row.body, row.language)


def record_sent(notification_id: int, sid: str) -> None:
    now = utcnow()
    db.session.execute(
        sa.update(Notification).where(Notification.id == notification_id, Notification.state == "queued")
        .values(state="sent", provider_sid=sid[:64], sent_at=now, next_attempt_at=None, error_code=None,
                updated_at=now).execution_options(synchronize_session=False))


def record_failure(notification_id: int, failure: SendFailed) -> float | None:
    """After a failed attempt: the delay before the next one, or None when the notification has failed."""
    attempts = db.session.scalar(sa.select(Notification.attempts).where(Notification.id == notification_id)) or 0
    now = utcnow()
    if failure.retryable and attempts < MAX_ATTEMPTS:
        delay = float(BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1])
        db.session.execute(
            sa.update(Notification).where(Notification.id == notification_id, Notification.state == "queued")
            .values(next_attempt_at=now + timedelta(seconds=delay), error_code=failure.code[:16], updated_at=now)
            .execution_options(synchronize_session=False))
        log.warning("notification %d attempt %d failed (%s); retry in %.0f s", notification_id, attempts,
                    failure, delay)
        return delay
    reason = failure.code if not failure.retryable else f"gave_up:{failure.code}"
    log.error("notification %d failed after %d attempt(s): %s", notification_id, attempts, failure)
    fail(notification_id, reason)
    return None


def fail(notification_id: int, error_code: str) -> bool:
    """Mark a notification failed (once) and tell its purpose."""
    now = utcnow()
    row = db.session.execute(
        sa.update(Notification).where(Notification.id == notification_id,
                                      Notification.state.in_(("queued", "sent")))
        .values(state="failed", error_code=error_code[:16], next_attempt_at=None, updated_at=now)
        .returning(Notification.purpose_type, Notification.purpose_id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return False
    _tell(_ON_FAILED, row.purpose_type, row.purpose_id, notification_id)
    return True


def due_ids(limit: int = 200) -> list[int]:
    """Queued notifications whose attempt is due: retries, quiet-hours releases and lapsed leases. Those
    whose time ran out before they could go (Twilio down for the whole window) lapse here instead."""
    now = utcnow()
    db.session.execute(
        sa.update(Notification)
        .where(Notification.state == "queued", Notification.next_attempt_at <= now, Notification.expires_at <= now)
        .values(state="expired", next_attempt_at=None, updated_at=now).execution_options(synchronize_session=False))
    query = (sa.select(Notification.id).where(Notification.state == "queued", Notification.next_attempt_at <= now)
             .order_by(Notification.next_attempt_at).limit(limit))
    return list(db.session.scalars(query))


def expire(notification_ids: list[int]) -> None:
    """Not answered in time: queued, sent or delivered notifications of a finished purpose lapse."""
    if notification_ids:
        db.session.execute(
            sa.update(Notification).where(Notification.id.in_(notification_ids),
                                          Notification.state.in_(("queued", "sent", "delivered", "answered")))
            .values(state="expired", next_attempt_at=None, updated_at=utcnow())
            .execution_options(synchronize_session=False))


# --- answers ----------------------------------------------------------------------------------------------

def acknowledge(notification_id: int, *, via: str) -> bool:
    """The recipient said yes (a key pressed, a reply, the outbox's button): once, then its purpose hears."""
    now = utcnow()
    row = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.state.in_(ACKNOWLEDGEABLE))
        .values(state="acknowledged", acknowledged_at=now, next_attempt_at=None, updated_at=now)
        .returning(Notification.purpose_type, Notification.purpose_id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return False
    log.info("notification %d acknowledged via %s", notification_id, via)
    _tell(_ON_ACK, row.purpose_type, row.purpose_id, notification_id)
    return True


def is_acknowledgement(body: str) -> bool:
    word = body.strip().strip("。.!！ ").upper()
    return word in ACK_WORDS


def reply_target(number: str) -> int | None:
    """The notification a text from `number` answers: the latest one sent there within the reply window."""
    return db.session.scalar(
        sa.select(Notification.id).where(
            Notification.to_address == number, Notification.channel.in_(("sms", "voice")),
            Notification.state.in_(ACKNOWLEDGEABLE[1:]), Notification.purpose_type.in_(list(_ON_ACK)),
            Notification.created_at > utcnow() - REPLY_WINDOW)
        .order_by(Notification.id.desc()).limit(1))


def record_status(sid: str, state: str | None, error_code: str | None, duration_s: int | None) -> None:
    """Twilio's status callback: delivery, failure, a call answered (with its length for the cost report)."""
    now = utcnow()
    values: dict = {"updated_at": now}
    if duration_s is not None:
        values["duration_s"] = duration_s
    if state is None:
        db.session.execute(sa.update(Notification).where(Notification.provider_sid == sid).values(values))
        return
    values |= {"state": state, "error_code": error_code[:16] if error_code else None}
    if state == "delivered":
        values["delivered_at"] = now
    row = db.session.execute(
        sa.update(Notification).where(Notification.provider_sid == sid,
                                      Notification.state.in_(("queued", "sent", "delivered")))
        .values(values).returning(Notification.id, Notification.purpose_type, Notification.purpose_id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        if duration_s is not None:  # e.g. the call was acknowledged before it ended: keep its length
            db.session.execute(sa.update(Notification).where(Notification.provider_sid == sid)
                               .values(duration_s=duration_s))
        return
    if state == "failed":
        _tell(_ON_FAILED, row.purpose_type, row.purpose_id, row.id)


def _tell(handlers: dict[str, Handler], purpose_type: str, purpose_id: int | None, notification_id: int) -> None:
    handler = handlers.get(purpose_type)
    if handler is not None and purpose_id is not None:
        handler(purpose_id, db.session.get(Notification, notification_id, populate_existing=True))


# --- the cost report ---------------------------------------------------------------------------------------

def usage(month_start: datetime) -> dict:
    """Messages and call minutes of one month (by when they were sent), for the cost report."""
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    sent = sa.and_(Notification.sent_at >= month_start, Notification.sent_at < next_month,
                   Notification.channel.in_(("sms", "voice")))
    rows = db.session.execute(
        sa.select(Notification.channel, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(sa.case((Notification.duration_s > 0,
                                                        (Notification.duration_s + 59) / 60), else_=0)), 0),
                  sa.func.sum(sa.case((Notification.provider_sid.like("OB%"), 1), else_=0)))
        .where(sent).group_by(Notification.channel)).all()
    by_channel = {row[0]: row for row in rows}
    sms_row, voice_row = by_channel.get("sms"), by_channel.get("voice")
    return {
        "month": month_start.strftime("%Y-%m"),
        "sms": sms_row[1] if sms_row else 0,
        "calls": voice_row[1] if voice_row else 0,
        "call_minutes": int(voice_row[2]) if voice_row else 0,
        "outbox_only": sum(int(row[3] or 0) for row in rows),
    }
