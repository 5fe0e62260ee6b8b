"""Celery tasks of the alerts domain."""

from __future__ import annotations

from celery import shared_task

from eldercare.alerts import services


@shared_task(name="alerts.deliver_in_app", declared_queue="notify", time_limit=30)
def deliver_in_app(notification_id: int) -> bool:
    return services.deliver_notice(notification_id)
