"""Automatic escalation of unclaimed alarms (issue 4, item 6), driven by one database timer per incident.

The `incident.escalate` timer is armed when an incident is opened (`arm_escalation`) and fired by the beat
sweep, so it survives worker restarts. Each firing looks at how long the incident has really been unclaimed
and applies every level that is due and not yet applied:

- level 1 (ELDERCARE_ESCALATE_SUPERVISORS_S, 30 s): `incident.escalated` to the supervisors, status
  `escalated`, escalation_level 1;
- level 2 (ELDERCARE_ESCALATE_ALL_S, 60 s): `incident.escalated` to every operator, escalation_level 2;
- review (ELDERCARE_REVIEW_AFTER_S, 180 s): review_flag set (answered after 3 min, TSA code).

Every change is a conditional UPDATE on the level it moves from, so a handler that runs twice (or races a
claim) changes nothing more; a late sweep after a worker outage jumps straight to the level due by then.
An incident claimed after the review limit is flagged by the claim code through `flag_if_late`.

Contract of `incident.escalated` (namespace /ops): the queue payload of the incident plus `level`; level 1
goes to room `ops:supervisors`, level 2 to room `ops`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app

from eldercare.alerts.events import INCIDENT_UPDATED, IncidentPayloadSchema
from eldercare.alerts.models import Incident
from eldercare.core import timers
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM, SUPERVISORS_ROOM, SocketEvent
from eldercare.core.models import StateEvent, Timer
from eldercare.core.states import TransitionConflict, actor_fields
from eldercare.core.time import utcnow
from eldercare.extensions import db

TIMER_KIND = "incident.escalate"
ACTOR = "system:escalation"
UNCLAIMED_STATUSES = ("new", "escalated")
LEVEL_SUPERVISORS, LEVEL_ALL = 1, 2
DEFAULTS_S = {"ELDERCARE_ESCALATE_SUPERVISORS_S": 30, "ELDERCARE_ESCALATE_ALL_S": 60,
              "ELDERCARE_REVIEW_AFTER_S": 180}


class IncidentEscalatedPayloadSchema(IncidentPayloadSchema):
    level = ma.fields.Integer(required=True, validate=ma.validate.OneOf((LEVEL_SUPERVISORS, LEVEL_ALL)))


INCIDENT_ESCALATED = SocketEvent("incident.escalated", IncidentEscalatedPayloadSchema())


def _seconds(key: str) -> float:
    return float(current_app.config.get(key, DEFAULTS_S[key]))


def thresholds() -> tuple[timedelta, timedelta, timedelta]:
    """(to supervisors, to every operator, review flag) after the incident was opened."""
    return tuple(timedelta(seconds=_seconds(key)) for key in DEFAULTS_S)  # type: ignore[return-value]


def arm_escalation(incident_id: int, created_at: datetime) -> None:
    """Arm the incident's escalation timer at its first level. Safe to call again (e.g. when a claimed
    incident is released back to `new`): a level already passed fires at the next sweep and the handler
    applies only what is due and not yet done."""
    timers.arm(TIMER_KIND, incident_id, created_at + thresholds()[0])


def escalation_timers(created: dict[int, datetime]) -> dict[tuple[str, int], datetime]:
    """What `arm_escalation` arms, for every incident a batch opened ({incident id: created at}), to hand to
    `timers.arm_many` with the batch's other timers."""
    first = thresholds()[0]
    return {(TIMER_KIND, incident_id): at + first for incident_id, at in created.items()}


def _reason(limit: timedelta) -> str:
    return f"unclaimed {int(limit.total_seconds())} s"


@timers.timer_handler(TIMER_KIND)
def escalate(incident_id: int) -> None:
    incident = db.session.get(Incident, incident_id, populate_existing=True)
    if incident is None or incident.status not in UNCLAIMED_STATUSES:
        return  # claimed, on hold or closed meanwhile: nothing to escalate, and no further timer
    to_supervisors, to_all, review = thresholds()
    elapsed = _clock(incident_id) - incident.created_at
    if elapsed >= to_all:
        _raise_level(incident, LEVEL_ALL, _reason(to_all))
    elif elapsed >= to_supervisors:
        _raise_level(incident, LEVEL_SUPERVISORS, _reason(to_supervisors))
    if elapsed >= review:
        _flag(incident.id, _reason(review))
        return
    if incident.status in UNCLAIMED_STATUSES:
        following = next(limit for limit in (to_supervisors, to_all, review) if limit > elapsed)
        timers.arm(TIMER_KIND, incident.id, incident.created_at + following)


def _clock(incident_id: int) -> datetime:
    """Now, or the due time of the timer being fired if that is later: a timer fires only once its due
    time has come, so its due time is a lower bound of the firing clock (`timers.fire(now=...)`)."""
    timer = db.session.execute(sa.select(Timer.due_at, Timer.fired_at)
                               .where(Timer.kind == TIMER_KIND, Timer.ref_id == incident_id)).first()
    now = utcnow()
    return max(now, timer.due_at) if timer is not None and timer.fired_at is not None else now


def _raise_level(incident: Incident, level: int, reason: str) -> None:
    if incident.escalation_level >= level:
        return
    if incident.status == "new":
        from eldercare.alerts.services import INCIDENT  # services imports this module (arm_escalation)

        try:
            INCIDENT.transition(incident, "escalated", actor=ACTOR, reason=reason,
                                values={"escalation_level": level}, data={"level": level})
        except TransitionConflict:
            db.session.refresh(incident)
            return  # claimed at this very moment: the operator has it
    else:
        changed = db.session.execute(
            sa.update(Incident)
            .where(Incident.id == incident.id, Incident.status == "escalated", Incident.escalation_level < level)
            .values(escalation_level=level).execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            return
        # Not a change of status, but part of the audit trail all the same.
        db.session.add(StateEvent(entity_type="incident", entity_id=incident.id, from_state="escalated",
                                  to_state="escalated", reason=reason, data={"level": level},
                                  **actor_fields(ACTOR)))
        db.session.flush()
        db.session.refresh(incident)
    _announce(incident.id, level)


def _announce(incident_id: int, level: int) -> None:
    from eldercare.alerts.services import incident_payloads

    room = SUPERVISORS_ROOM if level == LEVEL_SUPERVISORS else OPS_ROOM
    for payload in incident_payloads([incident_id]):
        INCIDENT_ESCALATED.publish({**payload, "level": level}, namespace=OPS_NAMESPACE, room=room)
        INCIDENT_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)  # queues show the new status


def _flag(incident_id: int, reason: str) -> bool:
    changed = db.session.execute(
        sa.update(Incident).where(Incident.id == incident_id, Incident.review_flag.is_(False))
        .values(review_flag=True).execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        status = db.session.scalar(sa.select(Incident.status).where(Incident.id == incident_id))
        db.session.add(StateEvent(entity_type="incident", entity_id=incident_id, from_state=status,
                                  to_state=status, reason=f"flagged for review: {reason}",
                                  data={"review_flag": True}, **actor_fields(ACTOR)))
        db.session.flush()
    return bool(changed)


def flag_if_late(incident: Incident) -> bool:
    """For the claim code, after a claim: an alarm answered after the review limit is flagged for review.
    Returns whether this call set the flag (False when on time or already flagged)."""
    review = thresholds()[2]
    answered_at = incident.claimed_at or utcnow()
    if answered_at - incident.created_at <= review:
        return False
    flagged = _flag(incident.id, f"answered after {int(review.total_seconds())} s")
    db.session.refresh(incident)
    return flagged
