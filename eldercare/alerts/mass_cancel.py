"""Mass cancel: a supervisor clears a flood of false alarms (a power cut sets off hundreds of devices)
with one reason.

Each incident goes through the INCIDENT state machine on its own (`only_from` the unclaimed states), so
the database decides every race: an incident claimed by an operator between the supervisor's selection
and this UPDATE keeps its holder and is reported as skipped, never cancelled under the operator's feet.
Incidents are taken in id order, the order the claim code locks a household's incidents in, so the two
cannot deadlock. Services flush, never commit; `incident.updated` is published after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from eldercare.alerts import cascade, escalation
from eldercare.alerts.claims import UNCLAIMED
from eldercare.alerts.events import INCIDENT_UPDATED
from eldercare.alerts.models import Incident
from eldercare.alerts.oversight import unclaimed_query
from eldercare.alerts.services import INCIDENT, incident_payloads
from eldercare.core import audit, timers
from eldercare.core.errors import ApiError
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM
from eldercare.core.models import User
from eldercare.core.states import TransitionConflict
from eldercare.extensions import db

OUTCOME = "false_alarm"
MAX_BATCH = 2000  # the whole fleet is ~1,300 devices: a larger selection is a mistake, not a flood


@dataclass
class Skipped:
    id: int
    status: str | None  # None: no such incident
    claimed_by: int | None = None


@dataclass
class MassCancelResult:
    reason: str
    cancelled: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def select_ids(filters: dict) -> list[int]:
    """The ids of the unclaimed alarms a filter (community, priority classes, time window) matches."""
    query = unclaimed_query(**filters).with_only_columns(Incident.id).order_by(Incident.id).limit(MAX_BATCH + 1)
    ids = list(db.session.scalars(query))
    if len(ids) > MAX_BATCH:
        raise ApiError(400, "bad_request", "Invalid input.",
                       {"_schema": [f"More than {MAX_BATCH} alarms match; narrow the selection."]})
    return ids


def cancel_many(incident_ids: list[int], user: User, reason: str) -> MassCancelResult:
    result = MassCancelResult(reason)
    wanted = sorted(set(incident_ids))
    found = {i.id: i for i in db.session.scalars(sa.select(Incident).where(Incident.id.in_(wanted)))} if wanted else {}
    for incident_id in wanted:
        incident = found.get(incident_id)
        if incident is None:
            result.skipped.append(Skipped(incident_id, None))
            continue
        try:
            INCIDENT.transition(incident, "cancelled", actor=user, only_from=UNCLAIMED,
                                reason=f"false alarm (mass cancel): {reason}"[:255],
                                values={"outcome": OUTCOME, "outcome_notes": reason, "hold_until": None},
                                data={"outcome": OUTCOME, "mass_cancel": True})
        except TransitionConflict:
            db.session.refresh(incident)
            result.skipped.append(Skipped(incident.id, incident.status, incident.claimed_by_id))
            continue
        timers.disarm(escalation.TIMER_KIND, incident.id)  # nothing left to escalate
        cascade.stop(incident.id, reason="false alarm (mass cancel)")  # nor anybody left to call
        result.cancelled.append(incident.id)
    audit.record("incident.mass_cancel", target_type="incident", reason=reason, cancelled=result.cancelled,
                 skipped=[s.id for s in result.skipped])
    for payload in incident_payloads(result.cancelled):
        INCIDENT_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    return result
