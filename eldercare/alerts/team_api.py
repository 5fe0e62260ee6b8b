"""`/api/v1/incidents/<id>/dispatch-team` and `/api/v1/team-dispatches`: calling an emergency team to an
incident, and the team acknowledging and reporting its progress (eldercare.alerts.teams)."""

from __future__ import annotations

import marshmallow as ma
from flask import g

from eldercare.alerts import claims, teams
from eldercare.alerts.models import TeamDispatch
from eldercare.core.auth import OPS, roles
from eldercare.core.rest import ApiBlueprint, PageArgsSchema, page_schema, paginate
from eldercare.core.schemas import Strict
from eldercare.extensions import db

blp = ApiBlueprint("team_dispatch", __name__, description="Emergency-team dispatch")


class DispatchTeamSchema(Strict):
    team_id = ma.fields.Integer(load_default=None, allow_none=True)


class DispatchStateSchema(Strict):
    state = ma.fields.String(required=True, validate=ma.validate.OneOf(teams.FIELD_STATES))


class DispatchQuerySchema(PageArgsSchema):
    active = ma.fields.Boolean(load_default=False)
    incident_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))


def _destination(dispatch: TeamDispatch) -> dict:
    """Where the team goes, as the call-out told it: all a team member needs of the resident's record."""
    where = teams.destination_of(dispatch.incident)
    return {"address": where.address, "community": where.community, "lat": where.lat, "lng": where.lng}


class TeamDispatchSchema(ma.Schema):
    id = ma.fields.Integer()
    incident_id = ma.fields.Integer()
    team_id = ma.fields.Integer()
    team_code = ma.fields.Function(lambda obj: obj.team.code)
    state = ma.fields.String()
    status = ma.fields.Function(lambda obj: obj.state)
    eta_minutes = ma.fields.Integer(allow_none=True)
    called_at = ma.fields.AwareDateTime()
    ack_due_at = ma.fields.AwareDateTime(allow_none=True)
    acknowledged_at = ma.fields.AwareDateTime(allow_none=True)
    on_scene_at = ma.fields.AwareDateTime(allow_none=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)
    called_by_id = ma.fields.Integer(allow_none=True)
    incident_type = ma.fields.Function(lambda obj: obj.incident.type)
    destination = ma.fields.Function(_destination)


@blp.route("/incidents/<int:incident_id>/dispatch-team", methods=["POST"])
@roles(*OPS)
@blp.arguments(DispatchTeamSchema)
@blp.response(201, TeamDispatchSchema)
@blp.doc(security=[{"bearer": []}])
def dispatch_team(data: dict, incident_id: int) -> TeamDispatch:
    """Call the given team, or the nearest available one by estimated travel time."""
    dispatch = teams.dispatch_team(claims.get_incident(incident_id), actor=g.user, team_id=data["team_id"])
    db.session.commit()
    return dispatch


@blp.route("/team-dispatches", methods=["GET"])
@roles(*OPS, "team_member")
@blp.arguments(DispatchQuerySchema, location="query")
@blp.response(200, page_schema(TeamDispatchSchema))
@blp.doc(security=[{"bearer": []}])
def list_dispatches(args: dict) -> dict:
    """Every dispatch for the call centre; a team member sees only their own team's."""
    return paginate(teams.dispatch_query(g.user, active=args["active"], incident_id=args["incident_id"]), args)


@blp.route("/team-dispatches/<int:dispatch_id>/ack", methods=["POST"])
@roles("team_member")
@blp.response(200, TeamDispatchSchema)
@blp.doc(security=[{"bearer": []}])
def acknowledge(dispatch_id: int) -> TeamDispatch:
    dispatch = teams.get_dispatch(dispatch_id)
    teams.acknowledge(dispatch, g.user)
    db.session.commit()
    return dispatch


@blp.route("/team-dispatches/<int:dispatch_id>/state", methods=["POST"])
@roles("team_member")
@blp.arguments(DispatchStateSchema)
@blp.response(200, TeamDispatchSchema)
@blp.doc(security=[{"bearer": []}])
def report_state(data: dict, dispatch_id: int) -> TeamDispatch:
    dispatch = teams.get_dispatch(dispatch_id)
    teams.report_state(dispatch, g.user, data["state"])
    db.session.commit()
    return dispatch
