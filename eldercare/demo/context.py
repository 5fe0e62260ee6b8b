"""The one random source of a demo build, with the helpers every generator shares.

Everything random goes through `Ctx.rng`, and generators run in a fixed order, so the same seed always
gives the same rows. Phone numbers are unique across the whole data set: SMS replies and SMS devices are
recognised by the sender's number, so two people must never share one.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from eldercare.demo import names

SEED = 2011  # the year the centre opened
# "Now" of the demo data: fixed, so that two loads give identical rows.
REFERENCE_TIME = datetime(2025, 1, 1, tzinfo=UTC)

Row = dict[str, Any]


class Ctx:
    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self._phones: set[str] = set()

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def mobile(self) -> str:
        """A unique mainland mobile number in E.164."""
        while True:
            number = "+86" + self.rng.choice(names.MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if self._claim(number):
                return number

    def landline(self) -> str:
        """A unique Hohhot fixed-line number as written locally (0471-xxxxxxx)."""
        while True:
            number = f"0471-{self.rng.choice('234569')}{self.rng.randrange(10**6):06d}"
            if self._claim(number):
                return number

    def _claim(self, number: str) -> bool:
        if number in self._phones:
            return False
        self._phones.add(number)
        return True

    def person(self, gender: str, elder: bool = False, mongolian: bool = False) -> str:
        rng = self.rng
        if mongolian:
            return rng.choice(names.MONGOLIAN_FEMALE if gender == "f" else names.MONGOLIAN_MALE)
        if elder:
            given = names.ELDER_FEMALE if gender == "f" else names.ELDER_MALE
        else:
            given = names.ADULT_FEMALE if gender == "f" else names.ADULT_MALE
        return rng.choice(names.SURNAMES) + rng.choice(given)

    def gender(self) -> str:
        return self.rng.choice("fm")

    def moment(self, first_year: int, last_year: int) -> datetime:
        """A time of day (08:00-18:00 local, as UTC) on a random day of the given years."""
        start = datetime(first_year, 1, 1, tzinfo=UTC)
        days = (datetime(last_year + 1, 1, 1, tzinfo=UTC) - start).days
        return start + timedelta(days=self.rng.randrange(days), minutes=self.rng.randrange(600))

    def near(self, lat: float, lng: float, spread_deg: float) -> tuple[float, float]:
        """A point around (lat, lng); the longitude spread is widened so the scatter is round on the map."""
        d_lat = self.rng.gauss(0, spread_deg)
        d_lng = self.rng.gauss(0, spread_deg) / math.cos(math.radians(lat))
        return round(lat + d_lat, 6), round(lng + d_lng, 6)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance: plenty for ranking places within one city."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(mean_lat)
    dy = math.radians(b[0] - a[0])
    return 6371.0 * math.hypot(dx, dy)
