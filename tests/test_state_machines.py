"""The four state machines of DESIGN.md: every state is reachable, only guarded moves exist."""

from __future__ import annotations

import itertools

import pytest

from eldercare.alerts.models import INCIDENT_STATUSES
from eldercare.alerts.services import INCIDENT
from eldercare.dispatch.models import OFFER_STATUSES, ORDER_STATUSES
from eldercare.dispatch.services import OFFER, ORDER
from eldercare.providers.models import TEAM_STATES
from eldercare.providers.services import TEAM

MACHINES = [(INCIDENT, INCIDENT_STATUSES, "new"), (ORDER, ORDER_STATUSES, "created"),
            (OFFER, OFFER_STATUSES, "pending"), (TEAM, TEAM_STATES, "available")]


def reachable(machine, start: str) -> set[str]:
    seen, frontier = {start}, [start]
    while frontier:
        for target in machine.transitions.get(frontier.pop(), ()):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


@pytest.mark.parametrize(("machine", "states", "start"), MACHINES, ids=lambda m: getattr(m, "entity_type", ""))
def test_states_match_the_model_and_are_reachable(machine, states, start):
    used = set(machine.transitions) | {t for targets in machine.transitions.values() for t in targets}
    assert used == set(states)
    assert reachable(machine, start) == set(states)


def test_design_paths():
    happy_order = ["created", "pending_dispatch", "offered", "accepted", "assigned", "en_route", "in_service",
                   "completed", "verified", "settled"]
    assert all(ORDER.can(a, b) for a, b in itertools.pairwise(happy_order))
    assert ORDER.can("offered", "pending_dispatch")  # declined / expired
    assert not ORDER.can("completed", "cancelled")
    assert not ORDER.can("settled", "created")
    team = ["available", "committed", "en_route", "on_scene", "returning", "available"]
    assert all(TEAM.can(a, b) for a, b in itertools.pairwise(team))
    incident = ["new", "claimed", "in_progress", "dispatched", "resolved", "closed"]
    assert all(INCIDENT.can(a, b) for a, b in itertools.pairwise(incident))
    assert INCIDENT.can("new", "cancelled") and INCIDENT.can("new", "escalated")
    assert not any(OFFER.can(final, "pending") for final in ("accepted", "declined", "expired", "withdrawn"))
    assert not INCIDENT.can("closed", "new")
