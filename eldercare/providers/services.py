"""Emergency-team duty states (DESIGN.md, "State machines"). Services flush, never commit."""

from __future__ import annotations

from eldercare.core.auth import SUPERVISORS
from eldercare.core.errors import ApiError, not_found
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM, PROVIDER_NAMESPACE, team_room
from eldercare.core.models import User
from eldercare.core.states import StateMachine
from eldercare.core.time import utcnow
from eldercare.extensions import db
from eldercare.providers.events import TEAM_UPDATED
from eldercare.providers.models import EmergencyTeam

TEAM = StateMachine("team", EmergencyTeam, {
    "available": {"committed", "off_duty"},
    # A team stood down before arriving goes straight back to available.
    "committed": {"en_route", "available"},
    "en_route": {"on_scene", "available"},
    "on_scene": {"returning"},
    "returning": {"available", "committed"},
    "off_duty": {"available"},
}, column="state")


def get_team(team_id: int) -> EmergencyTeam:
    team = db.session.get(EmergencyTeam, team_id)
    if team is None:
        raise not_found("Emergency team")
    return team


def announce_team(team: EmergencyTeam) -> None:
    payload = {"id": team.id, "status": team.state, "code": team.code}
    TEAM_UPDATED.publish(payload, namespace=PROVIDER_NAMESPACE, room=team_room(team.id))
    TEAM_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)


def set_duty(team: EmergencyTeam, user: User, *, on_duty: bool) -> None:
    """On duty (available) or off duty; a member of the team or a supervisor. Asking for the state the team
    is already in changes nothing; going off duty while called out is a 409 (finish the call first)."""
    if user.role not in SUPERVISORS and not (user.role == "team_member" and user.team_id == team.id):
        raise ApiError(403, "forbidden", "Only a member of this team or a supervisor may do that.")
    wanted = "available" if on_duty else "off_duty"
    if team.state == wanted:
        return
    TEAM.transition(team, wanted, actor=user, reason="on duty" if on_duty else "off duty",
                    values={"state_changed_at": utcnow()})
    announce_team(team)
