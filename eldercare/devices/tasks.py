"""Celery tasks of the devices domain."""

from __future__ import annotations

from celery import shared_task

from eldercare.devices import supervision


@shared_task(name="devices.sweep_supervision", declared_queue="alarms", time_limit=60, ignore_result=True)
def sweep_supervision() -> dict[str, int]:
    """Beat runs this every second: offline devices and inactive homes raise incidents within seconds."""
    offline = supervision.mark_overdue_offline()
    inactive = supervision.check_no_activity()
    return {"offline": len(offline), "no_activity": len(inactive)}
