"""Emergency-team duty states (DESIGN.md, "State machines"). Services flush, never commit."""

from __future__ import annotations

from eldercare.core.states import StateMachine
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
