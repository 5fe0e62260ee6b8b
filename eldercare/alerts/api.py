"""`/api/v1/incidents` (the operators' queue, claim, release, hand-over, hold, screen-pop) and
`/api/v1/notices` (the centre's broadcast to consoles: operators, a company, a team)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import joinedload

from eldercare.alerts import claims, plans, services
from eldercare.alerts.models import OPEN_INCIDENT_STATUSES, ActionStep, Incident, Notification
from eldercare.alerts.schemas import (
    HandoverSchema,
    HoldSchema,
    IncidentDetailSchema,
    IncidentOutcomeSchema,
    IncidentQuerySchema,
    IncidentSchema,
    NoticeCreateSchema,
    NotificationSchema,
    PlanSchema,
    ResolutionSchema,
    ResolveSchema,
    ScreenSchema,
    StepCreateSchema,
    StepRecordedSchema,
)
from eldercare.core.auth import OPS, SUPERVISORS, roles
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.extensions import db
from eldercare.households.models import Household

blp = ApiBlueprint("alerts", __name__, description="Incidents and notifications")


@blp.route("/notices", methods=["POST"])
@roles(*SUPERVISORS)
@blp.arguments(NoticeCreateSchema)
@blp.response(202, NotificationSchema)
@blp.doc(security=[{"bearer": []}])
def create_notice(data: dict) -> Notification:
    notification = services.send_notice(data["audience"], data["text"], sender=g.user,
                                         deliver_in_s=data["deliver_in_s"])
    db.session.commit()
    return notification


@blp.route("/incidents", methods=["GET"])
@roles(*OPS)
@blp.arguments(IncidentQuerySchema, location="query")
@blp.response(200, page_schema(IncidentSchema))
@blp.doc(security=[{"bearer": []}])
def list_incidents(args: dict) -> dict:
    """The queue: most urgent priority class first, then the oldest."""
    statuses = OPEN_INCIDENT_STATUSES if args["status"] == "open" else (args["status"],)
    query = (sa.select(Incident).where(Incident.status.in_(statuses))
             .options(joinedload(Incident.household).joinedload(Household.community))
             .order_by(Incident.priority, Incident.created_at, Incident.id))
    return paginate(query, args)


@blp.route("/incidents/<int:incident_id>", methods=["GET"])
@roles(*OPS)
@blp.response(200, IncidentDetailSchema)
@blp.doc(security=[{"bearer": []}])
def get_incident(incident_id: int) -> claims.IncidentDetail:
    return claims.detail(claims.get_incident(incident_id))


@blp.route("/incidents/<int:incident_id>/claim", methods=["POST"])
@roles(*OPS)
@blp.response(200, IncidentSchema)
@blp.doc(security=[{"bearer": []}])
def claim_incident(incident_id: int) -> Incident:
    incident = claims.get_incident(incident_id)
    claims.claim(incident, g.user)
    db.session.commit()
    return incident


@blp.route("/incidents/<int:incident_id>/release", methods=["POST"])
@roles(*OPS)
@blp.response(200, IncidentSchema)
@blp.doc(security=[{"bearer": []}])
def release_incident(incident_id: int) -> Incident:
    incident = claims.get_incident(incident_id)
    claims.release(incident, g.user)
    db.session.commit()
    return incident


@blp.route("/incidents/<int:incident_id>/handover", methods=["POST"])
@roles(*OPS)
@blp.arguments(HandoverSchema)
@blp.response(200, IncidentSchema)
@blp.doc(security=[{"bearer": []}])
def handover_incident(data: dict, incident_id: int) -> Incident:
    incident = claims.get_incident(incident_id)
    claims.handover(incident, g.user, data["to_user_id"])
    db.session.commit()
    return incident


@blp.route("/incidents/<int:incident_id>/hold", methods=["POST"])
@roles(*OPS)
@blp.arguments(HoldSchema)
@blp.response(200, IncidentSchema)
@blp.doc(security=[{"bearer": []}])
def hold_incident(data: dict, incident_id: int) -> Incident:
    incident = claims.get_incident(incident_id)
    claims.hold(incident, g.user, data["minutes"], data["reason"])
    db.session.commit()
    return incident


@blp.route("/incidents/<int:incident_id>/screen", methods=["GET"])
@roles(*OPS)
@blp.response(200, ScreenSchema)
@blp.doc(security=[{"bearer": []}])
def incident_screen(incident_id: int) -> claims.Screen:
    screen = claims.screen(claims.get_incident(incident_id), g.user)
    db.session.commit()  # the audit event of this opening
    return screen


# --- action plan, steps, outcome ------------------------------------------------------------------------

@blp.route("/incidents/<int:incident_id>/plan", methods=["GET"])
@roles(*OPS)
@blp.response(200, PlanSchema)
@blp.doc(security=[{"bearer": []}])
def incident_plan(incident_id: int) -> plans.Plan:
    """The scripted steps of the incident's type, each with the results recorded so far."""
    return plans.plan_for(claims.get_incident(incident_id))


@blp.route("/incidents/<int:incident_id>/steps", methods=["POST"])
@roles(*OPS)
@blp.arguments(StepCreateSchema)
@blp.response(201, StepRecordedSchema)
@blp.doc(security=[{"bearer": []}])
def record_incident_step(data: dict, incident_id: int) -> ActionStep:
    step = plans.record_step(claims.get_incident(incident_id), g.user, **data)
    db.session.commit()
    return step


@blp.route("/incidents/<int:incident_id>/resolve", methods=["POST"])
@roles(*OPS)
@blp.arguments(ResolveSchema)
@blp.response(200, ResolutionSchema)
@blp.doc(security=[{"bearer": []}])
def resolve_incident(data: dict, incident_id: int) -> plans.Resolution:
    resolution = plans.resolve(claims.get_incident(incident_id), g.user, **data)
    db.session.commit()
    return resolution


@blp.route("/incidents/<int:incident_id>/close", methods=["POST"])
@roles(*OPS)
@blp.response(200, IncidentOutcomeSchema)
@blp.doc(security=[{"bearer": []}])
def close_incident(incident_id: int) -> Incident:
    incident = claims.get_incident(incident_id)
    plans.close(incident, g.user)
    db.session.commit()
    return incident
