"""Answer-time KPIs of the alarm centre (issue 4, item 9), from the append-only StateEvent history.

For the alarms (incidents) opened in a period (default: today in the city's time zone):

- time to claim (answer): first transition to `claimed` minus `created_at`;
- time to first action: `first_action_at` minus `created_at`;
- time to team on scene: first `on_scene_at` of the incident's team dispatches minus `created_at`;
- time to resolution: first transition to `resolved` minus `created_at`;

each as count, median and p90 (nearest rank) in seconds; the share answered within 15 s, 60 s and 180 s
(GB/T 33358, TSA code); the number flagged for review. The shares are of the alarms that needed an answer:
an alarm cancelled at the device before anyone claimed it is left out (like an abandoned call), an alarm
still unanswered counts as not answered in time. Two queries-worth of SQL (one statement with two grouped
subqueries), portable to SQLite and PostgreSQL; percentiles are computed here from the fetched durations.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from eldercare.alerts.models import PRIORITY_INFO, PRIORITY_LIFE_SAFETY, PRIORITY_TECHNICAL, Incident, TeamDispatch
from eldercare.core.models import StateEvent
from eldercare.core.time import CITY_TZ, utcnow
from eldercare.extensions import db

ANSWER_TARGETS_S = (15, 60, 180)
PRIORITY_CLASSES = {PRIORITY_LIFE_SAFETY: "life_safety", PRIORITY_TECHNICAL: "technical", PRIORITY_INFO: "info"}


@dataclass(frozen=True)
class AlarmTimes:
    priority: int
    status: str
    review_flag: bool
    claim_s: float | None
    first_action_s: float | None
    on_scene_s: float | None
    resolution_s: float | None


def period_of(day: date | None) -> tuple[date, datetime, datetime]:
    """The local day (today by default) as a half-open UTC interval."""
    day = day or utcnow().astimezone(CITY_TZ).date()
    start = datetime.combine(day, time.min, tzinfo=CITY_TZ)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=CITY_TZ)
    return day, start.astimezone(UTC), end.astimezone(UTC)


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds())


def fetch_alarm_times(start: datetime, end: datetime) -> list[AlarmTimes]:
    first = (
        sa.select(StateEvent.entity_id.label("incident_id"),
                  sa.func.min(sa.case((StateEvent.to_state == "claimed", StateEvent.at))).label("claimed_at"),
                  sa.func.min(sa.case((StateEvent.to_state == "resolved", StateEvent.at))).label("resolved_at"))
        .where(StateEvent.entity_type == "incident", StateEvent.to_state.in_(("claimed", "resolved")))
        .group_by(StateEvent.entity_id).subquery()
    )
    scene = (sa.select(TeamDispatch.incident_id, sa.func.min(TeamDispatch.on_scene_at).label("on_scene_at"))
             .group_by(TeamDispatch.incident_id).subquery())
    rows = db.session.execute(
        sa.select(Incident.priority, Incident.status, Incident.review_flag, Incident.created_at,
                  Incident.first_action_at, sa.type_coerce(first.c.claimed_at, Incident.created_at.type),
                  sa.type_coerce(first.c.resolved_at, Incident.created_at.type),
                  sa.type_coerce(scene.c.on_scene_at, Incident.created_at.type))
        .outerjoin(first, first.c.incident_id == Incident.id)
        .outerjoin(scene, scene.c.incident_id == Incident.id)
        .where(Incident.created_at >= start, Incident.created_at < end)
    ).all()
    return [AlarmTimes(r[0], r[1], r[2], _seconds(r[3], r[5]), _seconds(r[3], r[4]), _seconds(r[3], r[7]),
                       _seconds(r[3], r[6])) for r in rows]


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]


def duration_stats(values: list[float | None]) -> dict[str, Any]:
    known = sorted(v for v in values if v is not None)
    return {"count": len(known), "median_s": statistics.median(known) if known else None,
            "p90_s": percentile(known, 0.9)}


def summarise(alarms: list[AlarmTimes]) -> dict[str, Any]:
    needing_answer = [a for a in alarms if not (a.status == "cancelled" and a.claim_s is None)]
    answered = [a for a in needing_answer if a.claim_s is not None]
    shares = {}
    for target in ANSWER_TARGETS_S:
        within = sum(1 for a in answered if a.claim_s <= target)
        shares[f"{target}s"] = round(within / len(needing_answer), 4) if needing_answer else None
    return {
        "alarms": len(alarms),
        "needing_answer": len(needing_answer),
        "answered": len(answered),
        "unanswered": len(needing_answer) - len(answered),
        "cancelled_before_answer": len(alarms) - len(needing_answer),
        "review_flagged": sum(1 for a in alarms if a.review_flag),
        "time_to_claim": duration_stats([a.claim_s for a in alarms]),
        "time_to_first_action": duration_stats([a.first_action_s for a in alarms]),
        "time_to_on_scene": duration_stats([a.on_scene_s for a in alarms]),
        "time_to_resolution": duration_stats([a.resolution_s for a in alarms]),
        "answered_within": shares,
    }


def alarm_kpis(day: date | None = None) -> dict[str, Any]:
    day, start, end = period_of(day)
    alarms = fetch_alarm_times(start, end)
    by_priority = []
    for priority, name in sorted(PRIORITY_CLASSES.items()):
        figures = summarise([a for a in alarms if a.priority == priority])
        by_priority.append({"priority": priority, "priority_class": name, **figures})
    return {"date": day, "timezone": str(CITY_TZ), "period_start": start, "period_end": end,
            "targets_s": list(ANSWER_TARGETS_S), "overall": summarise(alarms), "by_priority": by_priority}
