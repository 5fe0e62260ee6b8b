"""Celery tasks of the alerts domain."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from eldercare.alerts import notify, services
from eldercare.alerts.senders import SendFailed, sender_for
from eldercare.extensions import db


@shared_task(name="alerts.deliver_in_app", declared_queue="notify", time_limit=30)
def deliver_in_app(notification_id: int) -> bool:
    return services.deliver_notice(notification_id)


@shared_task(name="alerts.send_notification", declared_queue="notify", time_limit=60)
def send_notification(notification_id: int) -> str:
    """One attempt of one SMS or call. The claim is committed before the request leaves (see notify)."""
    outgoing = notify.claim_attempt(notification_id)
    if outgoing is None:
        return "skipped"  # sent, answered, expired, not due yet, or another attempt holds it
    db.session.commit()
    try:
        sid = sender_for(current_app).send(outgoing)
    except SendFailed as failure:
        delay = notify.record_failure(notification_id, failure)
        if delay is None:
            return "failed"
        notify.schedule(notification_id, countdown=delay)
        return "retry"
    notify.record_sent(notification_id, sid)
    return "sent"


@shared_task(name="alerts.sweep_notifications", declared_queue="notify", time_limit=60, ignore_result=True)
def sweep_notifications() -> int:
    """Retries whose countdown was lost, quiet-hours releases and attempts whose worker died."""
    due = notify.due_ids()
    for notification_id in due:
        send_notification.delay(notification_id)
    return len(due)
