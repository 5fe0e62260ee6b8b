"""Emergency-team dispatch from an incident (issue 4, item 7). Services flush, never commit.

The nearest AVAILABLE team by estimated travel time (`eldercare.geo.distance`) is called: the team moves
available → committed through the TEAM state machine, whose compare-and-set UPDATE decides between
concurrent dispatches of one team (the loser tries the next team). A TeamDispatch row records the call
(`called`) with its ETA and acknowledgement deadline (ELDERCARE_TEAM_ACK_S, 60 s), and the `team.ack` timer
is armed for that deadline: if the team has not acknowledged by then, the dispatch times out, the team is
available again, the supervisors are alerted and the next nearest team (not yet tried for this incident) is
called.

Events (all after commit):
- `team.callout` (/provider, room `team:<id>`): the dispatch (`id`, `status`) with the incident, its type,
  address, coordinates, ETA and deadline.
- `team.dispatch_updated` (/ops, room `ops`, and /provider, room `team:<id>`): the dispatch whenever its state
  changes, so the operator who called the team and every member of the team see it move at once.
- `team.unacknowledged` (/ops, room `ops:supervisors`): a team let its deadline pass; `next_team_id` is the
  team called instead, or null when none was available.
- `incident.updated` (/ops, room `ops`) when the incident becomes `dispatched`.
- `team.updated` (eldercare.providers.events) whenever the team's own state moves with the dispatch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from eldercare.alerts import cascade
from eldercare.alerts.events import INCIDENT_UPDATED
from eldercare.alerts.models import OPEN_INCIDENT_STATUSES, Incident, TeamDispatch
from eldercare.alerts.services import INCIDENT, incident_payloads
from eldercare.core import timers
from eldercare.core.errors import ApiError, conflict, not_found
from eldercare.core.events import (
    OPS_NAMESPACE,
    OPS_ROOM,
    PROVIDER_NAMESPACE,
    SUPERVISORS_ROOM,
    EventPayloadSchema,
    SocketEvent,
    team_room,
)
from eldercare.core.models import User
from eldercare.core.states import Actor, StateMachine, TransitionConflict
from eldercare.core.time import isoformat, utcnow
from eldercare.extensions import db
from eldercare.geo.distance import eta_between, is_urban_trip
from eldercare.geo.models import Community, District
from eldercare.households.models import Household
from eldercare.providers.models import EmergencyTeam
from eldercare.providers.services import TEAM, announce_team

ACK_TIMER = "team.ack"
ACK_DEFAULT_S = 60
TIMEOUT_ACTOR = "system:team-ack"
ACTIVE_STATES = ("called", "acknowledged", "en_route", "on_scene", "returning")
FIELD_STATES = ("en_route", "on_scene", "returning", "done")  # what a team reports from the field
# The team's own state while a dispatch is in each field state.
TEAM_STATE_FOR = {"en_route": "en_route", "on_scene": "on_scene", "returning": "returning", "done": "available"}

DISPATCH = StateMachine("team_dispatch", TeamDispatch, {
    "called": {"acknowledged", "timed_out", "declined", "cancelled"},
    "acknowledged": {"en_route", "cancelled"},
    # Stood down on the way: done, and the team is available again.
    "en_route": {"on_scene", "done"},
    "on_scene": {"returning"},
    "returning": {"done"},
}, column="state")


class TeamDispatchPayloadSchema(EventPayloadSchema):
    incident_id = ma.fields.Integer(required=True)
    team_id = ma.fields.Integer(required=True)
    eta_minutes = ma.fields.Integer(allow_none=True)
    ack_due_at = ma.fields.String(allow_none=True)


class TeamCalloutPayloadSchema(TeamDispatchPayloadSchema):
    incident_type = ma.fields.String(required=True)
    address = ma.fields.String(allow_none=True)
    community = ma.fields.String(allow_none=True)
    lat = ma.fields.Float(allow_none=True)
    lng = ma.fields.Float(allow_none=True)


class TeamUnacknowledgedPayloadSchema(TeamDispatchPayloadSchema):
    team_code = ma.fields.String(required=True)
    next_team_id = ma.fields.Integer(allow_none=True)


TEAM_CALLOUT = SocketEvent("team.callout", TeamCalloutPayloadSchema())
TEAM_DISPATCH_UPDATED = SocketEvent("team.dispatch_updated", TeamDispatchPayloadSchema())
TEAM_UNACKNOWLEDGED = SocketEvent("team.unacknowledged", TeamUnacknowledgedPayloadSchema())


@dataclass(frozen=True)
class Destination:
    lat: float
    lng: float
    district_code: str | None
    address: str | None
    community: str | None


@dataclass(frozen=True)
class Candidate:
    team: EmergencyTeam
    eta_minutes: float


def get_dispatch(dispatch_id: int) -> TeamDispatch:
    dispatch = db.session.get(TeamDispatch, dispatch_id)
    if dispatch is None:
        raise not_found("Team dispatch")
    return dispatch


def destination_of(incident: Incident) -> Destination:
    """Where the team goes: the household (the device's own position when the home is unknown)."""
    row = db.session.execute(
        sa.select(Household.lat, Household.lng, Household.address, Community.name_zh, District.code)
        .join(Community, Community.id == Household.community_id)
        .join(District, District.id == Community.district_id)
        .where(Household.id == incident.household_id)
    ).first() if incident.household_id is not None else None
    if row is not None:
        return Destination(row.lat, row.lng, row.code, row.address, row.name_zh)
    if incident.lat is None or incident.lng is None:
        raise ApiError(400, "bad_request", f"Incident {incident.id} has no known location.")
    return Destination(incident.lat, incident.lng, None, None, None)


def ranked_teams(destination: Destination, exclude: set[int] | frozenset[int] = frozenset()) -> list[Candidate]:
    """Available teams, nearest by estimated travel time first (ties by id)."""
    base = aliased(District)
    rows = db.session.execute(
        sa.select(EmergencyTeam, base.code).join(base, base.id == EmergencyTeam.district_id)
        .where(EmergencyTeam.state == "available", EmergencyTeam.id.not_in(exclude) if exclude else sa.true())
    ).all()
    candidates = [
        Candidate(team, eta_between((team.base_lat, team.base_lng), (destination.lat, destination.lng),
                                    urban=is_urban_trip(code, destination.district_code)))
        for team, code in rows
    ]
    return sorted(candidates, key=lambda c: (c.eta_minutes, c.team.id))


def ack_window() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("ELDERCARE_TEAM_ACK_S", ACK_DEFAULT_S)))


def tried_team_ids(incident_id: int) -> set[int]:
    """Teams that let this incident's call time out or declined it: not called again for it."""
    return set(db.session.scalars(sa.select(TeamDispatch.team_id).where(
        TeamDispatch.incident_id == incident_id, TeamDispatch.state.in_(("timed_out", "declined")))))


def dispatch_team(incident: Incident, *, actor: Actor, team_id: int | None = None) -> TeamDispatch:
    """Call `team_id`, or the nearest available team, to an open incident."""
    db.session.refresh(incident)
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise conflict(f"Incident {incident.id} is {incident.status}; no team can be sent.", status=incident.status)
    destination = destination_of(incident)
    if team_id is not None:
        candidates = [c for c in ranked_teams(destination) if c.team.id == team_id]
        if not candidates:
            _require_team(team_id)
    else:
        candidates = ranked_teams(destination, exclude=tried_team_ids(incident.id))
    chosen = _commit_first(candidates, incident, actor)
    if chosen is None:
        raise conflict(f"Emergency team {team_id} is not available." if team_id is not None
                       else "No emergency team is available.", team_id=team_id)
    return _record_call(incident, chosen, destination, actor)


def _require_team(team_id: int) -> None:
    if db.session.get(EmergencyTeam, team_id) is None:
        raise ApiError(400, "bad_request", "Invalid input.", {"team_id": ["Unknown emergency team."]})


def _commit_first(candidates: list[Candidate], incident: Incident, actor: Actor) -> Candidate | None:
    """Commit the first candidate the database lets us have; a team taken meanwhile is skipped."""
    for candidate in candidates:
        try:
            TEAM.transition(candidate.team, "committed", actor=actor, reason=f"called to incident {incident.id}",
                            values={"state_changed_at": utcnow()}, data={"incident_id": incident.id})
        except TransitionConflict:
            continue
        announce_team(candidate.team)
        return candidate
    return None


def _record_call(incident: Incident, chosen: Candidate, destination: Destination, actor: Actor) -> TeamDispatch:
    now = utcnow()
    dispatch = TeamDispatch(incident_id=incident.id, team_id=chosen.team.id, state="called",
                            eta_minutes=round(chosen.eta_minutes), called_at=now, ack_due_at=now + ack_window(),
                            called_by_id=actor.id if isinstance(actor, User) else None)
    db.session.add(dispatch)
    db.session.flush()
    DISPATCH.record_new(dispatch.id, "called", actor=actor, reason=f"team {chosen.team.code} called")
    timers.arm(ACK_TIMER, dispatch.id, dispatch.ack_due_at)
    if INCIDENT.can(incident.status, "dispatched"):
        # Changed meanwhile (e.g. resolved): the call stands and the incident keeps its state.
        with contextlib.suppress(TransitionConflict):
            INCIDENT.transition(incident, "dispatched", actor=actor, reason=f"team {chosen.team.code} called",
                                data={"team_id": chosen.team.id, "dispatch_id": dispatch.id})
    TEAM_CALLOUT.publish({**_payload(dispatch), "incident_type": incident.type, "address": destination.address,
                          "community": destination.community, "lat": destination.lat, "lng": destination.lng},
                         namespace=PROVIDER_NAMESPACE, room=team_room(dispatch.team_id))
    _announce(dispatch)
    for payload in incident_payloads([incident.id]):
        INCIDENT_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    return dispatch


def _payload(dispatch: TeamDispatch) -> dict:
    return {"id": dispatch.id, "status": dispatch.state, "incident_id": dispatch.incident_id,
            "team_id": dispatch.team_id, "eta_minutes": dispatch.eta_minutes,
            "ack_due_at": isoformat(dispatch.ack_due_at)}


def _announce(dispatch: TeamDispatch) -> None:
    payload = _payload(dispatch)
    TEAM_DISPATCH_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    TEAM_DISPATCH_UPDATED.publish(payload, namespace=PROVIDER_NAMESPACE, room=team_room(dispatch.team_id))


# --- the team's side -----------------------------------------------------------------------------------

def _require_member(dispatch: TeamDispatch, user: User) -> None:
    if user.role != "team_member" or user.team_id != dispatch.team_id:
        raise ApiError(403, "forbidden", "Only a member of the called team may do that.")


def acknowledge(dispatch: TeamDispatch, user: User) -> None:
    """The team takes the call (before its deadline: the timer and this race through the same UPDATE)."""
    _require_member(dispatch, user)
    DISPATCH.transition(dispatch, "acknowledged", actor=user, reason="acknowledged",
                        values={"acknowledged_at": utcnow()})
    timers.disarm(ACK_TIMER, dispatch.id)
    _announce(dispatch)
    cascade.team_acknowledged(dispatch.incident_id, dispatch.team_id)


def report_state(dispatch: TeamDispatch, user: User, state: str) -> None:
    """en_route / on_scene / returning / done: the dispatch and the team move together."""
    _require_member(dispatch, user)
    now = utcnow()
    values: dict = {"on_scene_at": now} if state == "on_scene" else {"finished_at": now} if state == "done" else {}
    DISPATCH.transition(dispatch, state, actor=user, reason=state, values=values)
    team = db.session.get(EmergencyTeam, dispatch.team_id)
    TEAM.transition(team, TEAM_STATE_FOR[state], actor=user, reason=f"dispatch {dispatch.id}: {state}",
                    values={"state_changed_at": now}, data={"dispatch_id": dispatch.id})
    announce_team(team)
    _announce(dispatch)


def dispatch_query(user: User, *, active: bool, incident_id: int | None = None) -> sa.Select:
    query = sa.select(TeamDispatch).order_by(TeamDispatch.called_at.desc(), TeamDispatch.id.desc())
    if active:
        query = query.where(TeamDispatch.state.in_(ACTIVE_STATES))
    if incident_id is not None:
        query = query.where(TeamDispatch.incident_id == incident_id)
    if user.role == "team_member":
        query = query.where(TeamDispatch.team_id == user.team_id)
    return query


# --- the acknowledgement deadline ----------------------------------------------------------------------

@timers.timer_handler(ACK_TIMER)
def ack_timed_out(dispatch_id: int) -> None:
    """No acknowledgement in time: free the team, alert the supervisors, call the next nearest team."""
    dispatch = db.session.get(TeamDispatch, dispatch_id, populate_existing=True)
    if dispatch is None or dispatch.state != "called":
        return  # acknowledged (or cancelled) meanwhile
    try:
        DISPATCH.transition(dispatch, "timed_out", actor=TIMEOUT_ACTOR, reason="not acknowledged in time",
                            values={"finished_at": utcnow()})
    except TransitionConflict:
        return  # acknowledged at the same instant: the team has it
    team = db.session.get(EmergencyTeam, dispatch.team_id, populate_existing=True)
    if team.state == "committed":
        TEAM.transition(team, "available", actor=TIMEOUT_ACTOR, reason=f"dispatch {dispatch.id} not acknowledged",
                        values={"state_changed_at": utcnow()}, data={"dispatch_id": dispatch.id})
        announce_team(team)
    _announce(dispatch)
    next_dispatch = _call_next(dispatch.incident_id)
    TEAM_UNACKNOWLEDGED.publish({**_payload(dispatch), "team_code": team.code,
                                 "next_team_id": next_dispatch.team_id if next_dispatch else None},
                                namespace=OPS_NAMESPACE, room=SUPERVISORS_ROOM)


def _call_next(incident_id: int) -> TeamDispatch | None:
    incident = db.session.get(Incident, incident_id, populate_existing=True)
    if incident is None or incident.status not in OPEN_INCIDENT_STATUSES:
        return None
    try:
        return dispatch_team(incident, actor=TIMEOUT_ACTOR)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return None  # no team left: the supervisors' alert says so (next_team_id null)
