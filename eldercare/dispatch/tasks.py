"""Celery tasks of dispatch. Contract: ids in, re-load, re-check, idempotent (STYLE.md)."""

from __future__ import annotations

from celery import shared_task

from eldercare.dispatch import recurring


@shared_task(name="dispatch.release_recurring", declared_queue="dispatch", time_limit=120, ignore_result=True)
def release_recurring() -> int:
    """Beat: release every standing order's occurrence whose lead time has come (dispatch/recurring.py).

    Each release is decided by the database, so overlapping runs (two beats, a slow run) release nothing
    twice; the committed orders then go to dispatch through `recurring.on_order_released`."""
    return len(recurring.release_due())
