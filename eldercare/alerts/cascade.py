"""The automatic response cascade (issue 4, item 5): when the resident does not answer, or nobody has
claimed the alarm, the people who can reach the home are asked in turn until one says "I'm going".

Rungs (CascadeStep rows, in `seq` order): the household's contacts by priority (all at once when the
household asks for the family to be told in parallel), then the grid leader, then the nearest emergency
team. A person's rung is an urgent SMS (reply 1 / Y / 好 / 收到); not acknowledged within
ELDERCARE_CASCADE_SMS_S, or undeliverable, it becomes a voice call ("press 1"); not acknowledged within
ELDERCARE_CASCADE_VOICE_S, the rung is `no_answer` and the next one starts. The team rung calls the nearest
team through `teams.dispatch_team` (whose own 60 s acknowledgement timer calls the next team).

The first acknowledgement stops the cascade: every other rung is cancelled, their timers disarmed and their
messages expired; the operators see who is going (`incident.cascade`, an action step on the incident).
Resolving or cancelling the incident stops it as well.

Started by: the `cascade.start` timer, armed when a life-safety incident opens and fired after
ELDERCARE_CASCADE_AFTER_S if the alarm is still unclaimed; the operator recording "resident: no answer";
or the operator's button (`POST /api/v1/incidents/<id>/cascade`). Timers are database rows (core.timers),
so a worker restart delays a rung by one sweep at most and never loses it. Services flush, never commit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app

from eldercare.alerts import notify
from eldercare.alerts.models import OPEN_INCIDENT_STATUSES, ActionStep, CascadeStep, Incident, Notification
from eldercare.core import timers
from eldercare.core.errors import ApiError, conflict
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM, EventPayloadSchema, SocketEvent
from eldercare.core.models import User
from eldercare.core.states import Actor
from eldercare.core.time import isoformat, utcnow
from eldercare.extensions import db
from eldercare.geo.models import GridCell
from eldercare.households.models import Contact, Household, Resident

log = logging.getLogger(__name__)

START_TIMER, STEP_TIMER = "cascade.start", "cascade.step"
ACTOR = "system:cascade"
DEFAULTS_S = {"ELDERCARE_CASCADE_AFTER_S": 60, "ELDERCARE_CASCADE_SMS_S": 90, "ELDERCARE_CASCADE_VOICE_S": 60}
LIFE_SAFETY = frozenset({"sos", "fall", "smoke", "gas", "no_activity"})
RUNNING = ("pending", "active")
UNCLAIMED = ("new", "escalated")


class CascadeStepSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    seq = ma.fields.Integer(required=True)
    target_type = ma.fields.String(required=True)
    target_id = ma.fields.Integer(allow_none=True)
    name = ma.fields.String(allow_none=True)
    parallel = ma.fields.Boolean(required=True)
    state = ma.fields.String(required=True)
    channel = ma.fields.String(allow_none=True)  # of the latest message: sms, voice
    due_at = ma.fields.String(allow_none=True)
    acknowledged_at = ma.fields.String(allow_none=True)


class CascadePayloadSchema(EventPayloadSchema):
    """`id`/`status` are the incident's; the rungs in order."""

    steps = ma.fields.List(ma.fields.Nested(CascadeStepSchema), required=True)


INCIDENT_CASCADE = SocketEvent("incident.cascade", CascadePayloadSchema())


def _seconds(key: str) -> timedelta:
    return timedelta(seconds=float(current_app.config.get(key, DEFAULTS_S[key])))


# --- starting ----------------------------------------------------------------------------------------------

def start_timers(created: list[tuple[int, str, datetime]]) -> dict[tuple[str, int], datetime]:
    """The `cascade.start` timers of the life-safety incidents a batch opened (incident id, type, created at),
    for `timers.arm_many` with the batch's other timers: each starts the cascade if the alarm is still
    unclaimed after ELDERCARE_CASCADE_AFTER_S."""
    delay = _seconds("ELDERCARE_CASCADE_AFTER_S")
    return {(START_TIMER, incident_id): at + delay for incident_id, type_, at in created if type_ in LIFE_SAFETY}


@timers.timer_handler(START_TIMER)
def _start_if_unclaimed(incident_id: int) -> None:
    incident = db.session.get(Incident, incident_id, populate_existing=True)
    if incident is not None and incident.status in UNCLAIMED and incident.household_id is not None:
        start(incident, actor=ACTOR, reason="alarm not answered")


def start(incident: Incident, *, actor: Actor, reason: str) -> list[CascadeStep]:
    """Build the rungs and start the first; a cascade already running is returned as it is."""
    # The incident's row lock serialises two starts (timer and operator) of one incident.
    db.session.execute(sa.select(Incident.id).where(Incident.id == incident.id).with_for_update())
    db.session.refresh(incident)
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise conflict(f"Incident {incident.id} is {incident.status}; no cascade.", status=incident.status)
    household = db.session.get(Household, incident.household_id) if incident.household_id else None
    if household is None:
        raise conflict(f"Incident {incident.id} belongs to no household; there is nobody to call.")
    steps = steps_of(incident.id)
    if any(step.state in RUNNING for step in steps):
        return steps
    seq = max((step.seq for step in steps), default=0)
    contacts = db.session.scalars(sa.select(Contact).where(Contact.household_id == household.id)
                                  .order_by(Contact.priority)).all()
    rungs = [CascadeStep(incident_id=incident.id, seq=(seq := seq + 1), target_type="contact",
                         target_id=contact.id, parallel=household.notify_family_parallel) for contact in contacts]
    if household.grid_cell_id is not None:
        rungs.append(CascadeStep(incident_id=incident.id, seq=(seq := seq + 1), target_type="grid_leader",
                                 target_id=household.grid_cell_id))
    rungs.append(CascadeStep(incident_id=incident.id, seq=seq + 1, target_type="team"))
    db.session.add_all(rungs)
    db.session.add(ActionStep(incident_id=incident.id, kind="cascade", result="started", notes=reason,
                              actor_id=actor.id if isinstance(actor, User) else None, finished_at=utcnow()))
    db.session.flush()
    log.info("incident %d: cascade started (%s), %d rungs", incident.id, reason, len(rungs))
    _advance(incident)
    announce(incident.id)
    return steps_of(incident.id)


def steps_of(incident_id: int) -> list[CascadeStep]:
    return list(db.session.scalars(sa.select(CascadeStep).where(CascadeStep.incident_id == incident_id)
                                   .order_by(CascadeStep.seq).execution_options(populate_existing=True)))


def _advance(incident: Incident) -> None:
    """Start the next rung (or the next parallel group) unless one is still running."""
    steps = steps_of(incident.id)
    if any(step.state == "active" for step in steps):
        return
    for step in steps:
        if step.state != "pending":
            continue
        group = [step]
        if step.parallel:
            group = [s for s in steps if s.state == "pending" and s.parallel]
        started = [s for s in group if _activate(incident, s)]
        if started:
            return
    if steps and not any(step.state in ("active", "acknowledged") for step in steps):
        log.warning("incident %d: cascade exhausted, nobody acknowledged", incident.id)
        db.session.add(ActionStep(incident_id=incident.id, kind="cascade", result="no_answer",
                                  notes="cascade exhausted", finished_at=utcnow()))


def _activate(incident: Incident, step: CascadeStep) -> bool:
    """Start one rung; False when it is skipped (no number, contact unreachable now, no team free)."""
    now = utcnow()
    if step.target_type == "team":
        return _call_team(incident, step, now)
    recipient = _recipient(step, now)
    if recipient is None:
        step.state = "skipped"
        return False
    step.state, step.started_at = "active", now
    db.session.flush()
    if not _send(incident, step, recipient, "sms"):
        return _next_phase(incident, step)
    return True


def _call_team(incident: Incident, step: CascadeStep, now: datetime) -> bool:
    from eldercare.alerts import teams  # teams calls back into the cascade when a team acknowledges

    try:
        dispatch = teams.dispatch_team(incident, actor=ACTOR)
    except ApiError as exc:
        if exc.status != 409:
            raise
        step.state = "skipped"
        log.warning("incident %d: cascade found no emergency team free", incident.id)
        return False
    step.state, step.started_at, step.target_id, step.due_at = "active", now, dispatch.team_id, dispatch.ack_due_at
    db.session.flush()
    return True


def _recipient(step: CascadeStep, now: datetime) -> notify.Recipient | None:
    from eldercare.alerts.claims import contact_available

    if step.target_type == "contact":
        contact = db.session.get(Contact, step.target_id)
        if contact is None or not contact_available(contact, now):
            return None
        return notify.Recipient("contact", contact.id, contact.phone, contact.language, contact.name)
    cell = db.session.get(GridCell, step.target_id)
    if cell is None:
        return None
    return notify.Recipient("grid_leader", cell.id, cell.leader_phone, cell.leader_language, cell.leader_name)


def _send(incident: Incident, step: CascadeStep, recipient: notify.Recipient, channel: str) -> bool:
    """Text or call one rung's person; False when it cannot go out (e.g. an invalid number)."""
    wait = _seconds("ELDERCARE_CASCADE_SMS_S" if channel == "sms" else "ELDERCARE_CASCADE_VOICE_S")
    due = utcnow() + wait
    household = db.session.get(Household, incident.household_id)
    resident = db.session.scalar(sa.select(Resident.name).where(Resident.household_id == household.id)
                                 .order_by(Resident.id).limit(1))
    notification = notify.create(
        purpose_type="cascade_step", purpose_id=step.id, recipient=recipient, channel=channel,
        template="cascade_alarm" if channel == "sms" else "cascade_alarm_voice",
        context={"resident": resident or household.code, "address": household.address, "alarm": incident.type,
                 "centre": current_app.config.get("ELDERCARE_CENTRE_PHONE", "12349")},
        urgent=True, expires_at=due)
    if notification.state == "failed":
        return False
    step.due_at = due
    db.session.flush()
    timers.arm(STEP_TIMER, step.id, due)
    return True


def _next_phase(incident: Incident, step: CascadeStep) -> bool:
    """The text went unanswered or undelivered: call instead; after the call, the next rung."""
    latest = _latest_notification(step.id)
    if latest is not None:
        notify.expire([latest.id])
    if latest is None or latest.channel == "sms":
        recipient = _recipient(step, utcnow())
        if recipient is not None and _send(incident, step, recipient, "voice"):
            return True
    step.state = "no_answer"
    timers.disarm(STEP_TIMER, step.id)
    db.session.flush()
    return False


def _latest_notification(step_id: int) -> Notification | None:
    return db.session.scalar(sa.select(Notification).where(Notification.purpose_type == "cascade_step",
                                                           Notification.purpose_id == step_id)
                             .order_by(Notification.id.desc()).limit(1))


@timers.timer_handler(STEP_TIMER)
def _step_due(step_id: int) -> None:
    step = db.session.get(CascadeStep, step_id, populate_existing=True)
    if step is None or step.state != "active":
        return
    incident = db.session.get(Incident, step.incident_id, populate_existing=True)
    if incident.status not in OPEN_INCIDENT_STATUSES:
        stop(incident.id, reason=f"incident {incident.status}")
        return
    if not _next_phase(incident, step):
        _advance(incident)
    announce(incident.id)


@notify.on_failed("cascade_step")
def _message_failed(step_id: int, notification: Notification) -> None:
    """Undeliverable, or given up after retries: don't wait for the timeout, go to the next phase now."""
    step = db.session.get(CascadeStep, step_id, populate_existing=True)
    latest = _latest_notification(step_id)
    if step is None or step.state != "active" or latest is None or latest.id != notification.id:
        return  # an older message of the rung, or the rung has moved on
    incident = db.session.get(Incident, step.incident_id)
    if not _next_phase(incident, step):
        _advance(incident)
    announce(incident.id)


# --- acknowledgement and stop ---------------------------------------------------------------------------------

@notify.on_acknowledged("cascade_step")
def _acknowledged(step_id: int, notification: Notification) -> None:
    """Someone is going: the rung is acknowledged (even after its own timeout) and the cascade stops."""
    now = utcnow()
    changed = db.session.execute(
        sa.update(CascadeStep).where(CascadeStep.id == step_id,
                                     CascadeStep.state.in_(("active", "no_answer", "pending")))
        .values(state="acknowledged", acknowledged_at=now).returning(CascadeStep.incident_id)
        .execution_options(synchronize_session=False)
    ).first()
    if changed is None:
        return
    incident_id = changed.incident_id
    timers.disarm(STEP_TIMER, step_id)
    step = db.session.get(CascadeStep, step_id, populate_existing=True)
    who = _name_of(step)
    db.session.add(ActionStep(incident_id=incident_id, kind=f"cascade_{step.target_type}", target_ref=who,
                              result="attending", notes=f"{who}: acknowledged ({notification.channel})",
                              started_at=step.started_at or now, finished_at=now))
    stop(incident_id, reason=f"acknowledged by {who}", keep=step_id)


def team_acknowledged(incident_id: int, team_id: int) -> None:
    """Called by `teams.acknowledge`: a team the cascade called has taken the call."""
    step_id = db.session.scalar(sa.select(CascadeStep.id).where(
        CascadeStep.incident_id == incident_id, CascadeStep.target_type == "team",
        CascadeStep.target_id == team_id, CascadeStep.state == "active"))
    if step_id is not None:
        db.session.execute(sa.update(CascadeStep).where(CascadeStep.id == step_id)
                           .values(state="acknowledged", acknowledged_at=utcnow()))
        stop(incident_id, reason=f"team {team_id} acknowledged", keep=step_id)


def stop(incident_id: int, *, reason: str, keep: int | None = None) -> int:
    """Cancel every running rung (but `keep`), their timers and unanswered messages; returns how many."""
    running = list(db.session.scalars(sa.select(CascadeStep.id).where(
        CascadeStep.incident_id == incident_id, CascadeStep.state.in_(RUNNING), CascadeStep.id != (keep or 0))))
    timers.disarm(START_TIMER, incident_id)
    if running:
        db.session.execute(sa.update(CascadeStep).where(CascadeStep.id.in_(running))
                           .values(state="cancelled").execution_options(synchronize_session=False))
        for step_id in running:
            timers.disarm(STEP_TIMER, step_id)
        notify.expire(list(db.session.scalars(sa.select(Notification.id).where(
            Notification.purpose_type == "cascade_step", Notification.purpose_id.in_(running)))))
        log.info("incident %d: cascade stopped (%s), %d rungs cancelled", incident_id, reason, len(running))
    announce(incident_id)
    return len(running)


# --- what the operators see ---------------------------------------------------------------------------------

def _name_of(step: CascadeStep) -> str:
    if step.target_type == "contact":
        contact = db.session.get(Contact, step.target_id)
        return contact.name if contact else "?"
    if step.target_type == "grid_leader":
        cell = db.session.get(GridCell, step.target_id)
        return cell.leader_name if cell else "?"
    if step.target_type == "team" and step.target_id:
        from eldercare.providers.models import EmergencyTeam

        team = db.session.get(EmergencyTeam, step.target_id)
        return team.code if team else "?"
    return step.target_type


def view(incident_id: int) -> dict:
    incident_status = db.session.scalar(sa.select(Incident.status).where(Incident.id == incident_id))
    steps = steps_of(incident_id)
    channels = dict(db.session.execute(
        sa.select(Notification.purpose_id, Notification.channel)
        .where(Notification.purpose_type == "cascade_step", Notification.purpose_id.in_([s.id for s in steps]))
        .order_by(Notification.id)).all()) if steps else {}
    return {"id": incident_id, "status": incident_status, "steps": [
        {"id": s.id, "seq": s.seq, "target_type": s.target_type, "target_id": s.target_id, "name": _name_of(s),
         "parallel": s.parallel, "state": s.state, "channel": channels.get(s.id), "due_at": isoformat(s.due_at),
         "acknowledged_at": isoformat(s.acknowledged_at)} for s in steps]}


def announce(incident_id: int) -> None:
    """The rungs changed (the incident itself did not, or its own code announces it)."""
    INCIDENT_CASCADE.publish(view(incident_id), namespace=OPS_NAMESPACE, room=OPS_ROOM)
