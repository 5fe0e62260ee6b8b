"""`/api/v1/providers`, `/api/v1/teams` (and a team's duty: on or off)."""

from __future__ import annotations

import marshmallow as ma
import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import selectinload

from eldercare.catalog.models import ServiceType
from eldercare.core.auth import STAFF, SUPERVISORS, roles
from eldercare.core.rest import ApiBlueprint, PageArgsSchema, page_schema, paginate
from eldercare.core.schemas import Strict
from eldercare.extensions import db
from eldercare.geo.models import Community
from eldercare.providers import services
from eldercare.providers.models import EmergencyTeam, Provider
from eldercare.providers.schemas import ProviderQuerySchema, ProviderSchema, TeamSchema

blp = ApiBlueprint("providers", __name__, description="Provider companies and emergency teams")


@blp.route("/providers", methods=["GET"])
@roles(*STAFF)
@blp.arguments(ProviderQuerySchema, location="query")
@blp.response(200, page_schema(ProviderSchema))
@blp.doc(security=[{"bearer": []}])
def list_providers(args: dict) -> dict:
    query = (sa.select(Provider).order_by(Provider.id)
             .options(selectinload(Provider.service_types), selectinload(Provider.communities),
                      selectinload(Provider.hours)))
    if args["status"] is not None:
        query = query.where(Provider.status == args["status"])
    if args["service_type"] is not None:
        query = query.where(Provider.service_types.any(ServiceType.code == args["service_type"]))
    if args["community_id"] is not None:
        query = query.where(Provider.communities.any(Community.id == args["community_id"]))
    return paginate(query, args)


@blp.route("/teams", methods=["GET"])
@roles(*STAFF)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(TeamSchema))
@blp.doc(security=[{"bearer": []}])
def list_teams(args: dict) -> dict:
    return paginate(sa.select(EmergencyTeam).options(selectinload(EmergencyTeam.members))
                    .order_by(EmergencyTeam.id), args)


class DutySchema(Strict):
    on_duty = ma.fields.Boolean(required=True)


@blp.route("/teams/<int:team_id>", methods=["GET"])
@roles(*STAFF)
@blp.response(200, TeamSchema)
@blp.doc(security=[{"bearer": []}])
def get_team(team_id: int) -> EmergencyTeam:
    return services.get_team(team_id)


@blp.route("/teams/<int:team_id>/duty", methods=["POST"])
@roles("team_member", *SUPERVISORS)
@blp.arguments(DutySchema)
@blp.response(200, TeamSchema)
@blp.doc(security=[{"bearer": []}])
def set_duty(data: dict, team_id: int) -> EmergencyTeam:
    """On duty (available for call-outs) or off duty: a member of the team, or a supervisor."""
    team = services.get_team(team_id)
    services.set_duty(team, g.user, on_duty=data["on_duty"])
    db.session.commit()
    return team
