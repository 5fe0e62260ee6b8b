"""Straight-line distance and the travel-time estimate used to pick the nearest emergency team.

ETA (minutes) = turnout + road factor × great-circle distance / speed. Roads are ~30 % longer than the
straight line; a trip that stays inside the four urban districts is driven at city speed, anything that
leaves them (county roads, expressways) at the open-road speed.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
ROAD_FACTOR = 1.3
URBAN_SPEED_KMH = 25.0
RURAL_SPEED_KMH = 50.0
TURNOUT_MIN = 3.0
# Xincheng, Huimin, Yuquan, Saihan: the national division codes of Hohhot's urban districts.
URBAN_DISTRICT_CODES = frozenset(("150102", "150103", "150104", "150105"))


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def is_urban_trip(*district_codes: str | None) -> bool:
    """A trip is urban when every end of it lies in an urban district (an unknown district is not urban)."""
    return all(code in URBAN_DISTRICT_CODES for code in district_codes)


def eta_minutes(distance_km: float, *, urban: bool) -> float:
    speed = URBAN_SPEED_KMH if urban else RURAL_SPEED_KMH
    return TURNOUT_MIN + ROAD_FACTOR * distance_km / speed * 60


def eta_between(origin: tuple[float, float], destination: tuple[float, float], *, urban: bool) -> float:
    return eta_minutes(haversine_km(*origin, *destination), urban=urban)
