"""Scripted action plans per incident type, the steps the holder records, and the outcome that ends it.

The plan is data, not rows: each incident type maps to an ordered list of step kinds (life-safety alarms
climb from the resident to 120/110/119, technical faults end in a repair order). What the operator actually
did is an ActionStep per call. Every state change goes through the INCIDENT machine; the first recorded step
sets `first_action_at` (the "time to first action" KPI) and moves `claimed` → `in_progress`.
Services flush, never commit; `incident.updated` is published after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from eldercare.alerts import cascade
from eldercare.alerts.events import INCIDENT_UPDATED
from eldercare.alerts.models import ActionStep, Incident
from eldercare.alerts.services import INCIDENT, LIFE_SAFETY_TYPES, incident_payloads
from eldercare.catalog.models import ServiceType
from eldercare.core.auth import SUPERVISORS
from eldercare.core.errors import ApiError, conflict
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM
from eldercare.core.models import User
from eldercare.core.states import TransitionConflict
from eldercare.core.time import utcnow
from eldercare.extensions import db
from eldercare.households.models import Household

# kind -> (label zh, label en)
STEP_KINDS: dict[str, tuple[str, str]] = {
    "call_resident": ("回拨老人", "Call the resident back"),
    "call_contacts": ("按顺序联系紧急联系人", "Call the contacts in cascade order"),
    "call_contact": ("联系紧急联系人", "Call a contact"),
    "call_grid_leader": ("联系楼院门栋长", "Call the grid leader"),
    "dispatch_team": ("派遣应急小组", "Dispatch the emergency team"),
    "call_emergency_services": ("拨打急救/报警/火警电话", "Call the emergency services"),
    "create_repair_order": ("创建维修工单", "Create a repair order"),
}
STEP_RESULTS = ("answered", "no_answer", "busy", "wrong_number", "attending", "not_needed", "done")
EMERGENCY_NUMBERS: dict[str, tuple[str, str]] = {
    "120": ("120 急救", "120 ambulance"),
    "110": ("110 报警", "110 police"),
    "119": ("119 火警", "119 fire"),
}

_LIFE_SAFETY = ("call_resident", "call_contacts", "call_grid_leader", "dispatch_team", "call_emergency_services")
_TECHNICAL = ("call_resident", "call_contact", "create_repair_order")
PLANS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(LIFE_SAFETY_TYPES, _LIFE_SAFETY),
    # A leak floods the neighbours too: the grid leader can shut the valve before the plumber comes.
    "water": ("call_resident", "call_contact", "call_grid_leader", "create_repair_order"),
    **dict.fromkeys(("low_battery", "power_loss", "device_removed", "offline"), _TECHNICAL),
}
FALLBACK_PLAN = ("call_resident",)
# Which number first: fire and gas call the fire brigade before the ambulance.
EMERGENCY_ORDER: dict[str, tuple[str, ...]] = {
    "smoke": ("119", "120"), "gas": ("119", "120"), "sos": ("120", "110"), "fall": ("120",),
    "no_activity": ("120", "110"),  # the police open the door when nobody answers
}
STEP_STATES = ("claimed", "in_progress", "dispatched")
# The resident could not be reached: the automatic cascade starts calling the contacts.
CASCADE_RESULTS = ("no_answer", "busy", "wrong_number")


@dataclass
class Target:
    ref: str
    label: str


@dataclass
class PlanStep:
    seq: int
    kind: str
    label_zh: str
    label_en: str
    targets: list[Target]
    results: list[ActionStep] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return bool(self.results)


@dataclass
class Plan:
    incident: Incident
    category: str
    steps: list[PlanStep]
    other_steps: list[ActionStep]  # recorded steps of kinds the script does not list


@dataclass
class Resolution:
    """A resolved incident and the service order its referral created; reads through to the incident."""

    incident: Incident
    order_id: int | None

    def __getattr__(self, name: str) -> object:
        return getattr(self.incident, name)


def category_of(type_: str) -> str:
    if type_ in LIFE_SAFETY_TYPES:
        return "life_safety"
    return "technical" if type_ in PLANS else "information"


def _targets(kind: str, incident: Incident, household: Household | None) -> list[Target]:
    if kind == "call_resident" and household is not None:
        return [Target(f"resident:{r.id}", r.name) for r in household.residents if r.active]
    if kind in ("call_contacts", "call_contact") and household is not None:
        return [Target(f"contact:{c.id}", c.name) for c in household.contacts]
    if kind == "call_grid_leader" and household is not None and household.grid_cell is not None:
        return [Target(f"grid_cell:{household.grid_cell.id}", household.grid_cell.leader_name)]
    if kind == "call_emergency_services":
        return [Target(number, EMERGENCY_NUMBERS[number][0]) for number in EMERGENCY_ORDER.get(incident.type, ())]
    return []


def plan_for(incident: Incident) -> Plan:
    """The script of the incident's type with each step's recorded results (in the order recorded)."""
    household = db.session.get(Household, incident.household_id) if incident.household_id else None
    recorded = list(db.session.scalars(sa.select(ActionStep).where(ActionStep.incident_id == incident.id)
                                       .order_by(ActionStep.started_at, ActionStep.id)))
    kinds = PLANS.get(incident.type, FALLBACK_PLAN)
    steps = [PlanStep(seq, kind, *STEP_KINDS[kind], _targets(kind, incident, household),
                      [s for s in recorded if s.kind == kind]) for seq, kind in enumerate(kinds, start=1)]
    return Plan(incident, category_of(incident.type), steps, [s for s in recorded if s.kind not in kinds])


def _announce(incident_id: int) -> None:
    for payload in incident_payloads([incident_id]):
        INCIDENT_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)


def require_actor(incident: Incident, user: User) -> None:
    """The holder, or a supervisor/admin; anyone else is told who holds it (409)."""
    if user.role in SUPERVISORS or incident.claimed_by_id == user.id:
        return
    holder = db.session.get(User, incident.claimed_by_id) if incident.claimed_by_id else None
    raise conflict(f"Incident {incident.id} is not held by you"
                   + (f"; {holder.username} holds it." if holder else "; claim it first."),
                   status=incident.status, claimed_by=incident.claimed_by_id)


def record_step(incident: Incident, user: User, *, kind: str, result: str, target_ref: str | None = None,
                notes: str | None = None) -> ActionStep:
    """Record one step; the first one marks the first action and puts the incident in progress."""
    require_actor(incident, user)
    if incident.status not in STEP_STATES:
        raise conflict(f"Incident {incident.id} is {incident.status}; steps are recorded while it is handled.",
                       status=incident.status)
    now = utcnow()
    step = ActionStep(incident_id=incident.id, kind=kind, target_ref=target_ref, result=result, notes=notes,
                      actor_id=user.id, started_at=now, finished_at=now)
    db.session.add(step)
    db.session.flush()
    first_action = sa.func.coalesce(Incident.first_action_at, now)
    if incident.status == "claimed":
        try:
            INCIDENT.transition(incident, "in_progress", actor=user, reason=f"first action: {kind}",
                                values={"first_action_at": first_action}, data={"step_id": step.id})
        except TransitionConflict:
            db.session.refresh(incident)  # a concurrent step of the same holder moved it first
    if incident.first_action_at is None:
        db.session.execute(sa.update(Incident).where(Incident.id == incident.id)
                           .values(first_action_at=first_action).execution_options(synchronize_session=False))
        db.session.refresh(incident)
    if kind == "call_resident" and result in CASCADE_RESULTS:
        cascade.start(incident, actor=user, reason=f"resident: {result}")
    _announce(incident.id)
    return step


def resolve(incident: Incident, user: User, *, outcome: str, notes: str | None = None, follow_up: bool = False,
            service_type: str | None = None) -> Resolution:
    """End the response with an outcome code; a service referral also creates the service order."""
    require_actor(incident, user)
    order_id = _refer(incident, user, service_type, notes) if outcome == "service_referral" else None
    INCIDENT.transition(incident, "resolved", actor=user, reason=f"resolved: {outcome}",
                        values={"resolved_at": utcnow(), "outcome": outcome, "outcome_notes": notes,
                                "follow_up": follow_up},
                        data={"outcome": outcome, "follow_up": follow_up, "order_id": order_id})
    cascade.stop(incident.id, reason=f"resolved: {outcome}")
    _announce(incident.id)
    return Resolution(incident, order_id)


def _refer(incident: Incident, user: User, service_type: str | None, notes: str | None) -> int:
    found = db.session.scalar(sa.select(ServiceType).where(ServiceType.code == service_type,
                                                           ServiceType.active.is_(True)))
    if found is None:
        raise ApiError(400, "bad_request", "Invalid input.", {"service_type": ["Unknown service type."]})
    if incident.household_id is None:
        raise ApiError(400, "bad_request", "Invalid input.",
                       {"outcome": ["A service referral needs an incident of a household."]})
    if not INCIDENT.can(incident.status, "resolved"):
        raise TransitionConflict(INCIDENT.entity_type, incident.id, incident.status, "resolved")
    from eldercare.dispatch import orders  # dispatch needs the notification service of this package

    order = orders.create_order({"household_id": incident.household_id, "service_type": found.code,
                                 "notes": notes}, user, source="incident")
    order.incident_id = incident.id  # the referral is dispatched like any order, and remembers its alarm
    db.session.flush()
    return order.id


def close(incident: Incident, user: User) -> None:
    """A resolved incident is closed (nothing left to follow); the holder or a supervisor."""
    require_actor(incident, user)
    INCIDENT.transition(incident, "closed", actor=user, reason="closed", values={"closed_at": utcnow()})
    _announce(incident.id)
