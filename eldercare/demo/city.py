"""Hohhot's 9 districts and counties, their 289 communities and one grid cell per 50 households."""

from __future__ import annotations

import math
from dataclasses import dataclass

from eldercare.demo import names
from eldercare.demo.context import Ctx, Row

HOUSEHOLDS_PER_CELL = 50


@dataclass(frozen=True)
class DistrictSpec:
    code: str  # the national administrative division code
    name_zh: str
    name_en: str
    lat: float
    lng: float
    communities: int
    spread_deg: float  # how far its communities lie from its centre
    town: tuple[str, str] | None = None  # rural counties: the seat town their communities belong to
    formal_zh: str | None = None  # the full name written in addresses when name_zh is the short one

    @property
    def address_zh(self) -> str:
        return self.formal_zh or self.name_zh


# Urban districts around the city centre (~40.84N 111.75E); counties at their seats' real rough positions.
DISTRICTS = (
    DistrictSpec("150102", "新城区", "Xincheng District", 40.8650, 111.7550, 48, 0.018),
    DistrictSpec("150103", "回民区", "Huimin District", 40.8350, 111.6900, 57, 0.016),
    DistrictSpec("150104", "玉泉区", "Yuquan District", 40.7900, 111.7150, 49, 0.016),
    DistrictSpec("150105", "赛罕区", "Saihan District", 40.8150, 111.8050, 87, 0.022),
    DistrictSpec("150121", "土左旗", "Tumed Left Banner", 40.6880, 111.1630, 13, 0.008,
                 ("察素齐镇", "Chasuqi Town"), "土默特左旗"),
    DistrictSpec("150122", "托县", "Togtoh County", 40.2770, 111.1940, 12, 0.007,
                 ("双河镇", "Shuanghe Town"), "托克托县"),
    DistrictSpec("150123", "和林县", "Horinger County", 40.3790, 111.8220, 10, 0.007,
                 ("城关镇", "Chengguan Town"), "和林格尔县"),
    DistrictSpec("150124", "清水河", "Qingshuihe County", 39.9210, 111.6470, 6, 0.005,
                 ("城关镇", "Chengguan Town"), "清水河县"),
    DistrictSpec("150125", "武川县", "Wuchuan County", 41.0960, 111.4510, 7, 0.005,
                 ("可可以力更镇", "Kekeyiligeng Town")),
)
URBAN_CODES = frozenset(("150102", "150103", "150104", "150105"))
# The Jinqiao development zone: the last 6 communities of Saihan, east of its centre.
JINQIAO = ("150105", 6, 40.7950, 111.8450)
JINQIAO_NAME = ("金桥开发区", "Jinqiao Development Zone")


def district_rows() -> list[Row]:
    return [
        {"id": i, "code": d.code, "name_zh": d.name_zh, "name_en": d.name_en, "lat": d.lat, "lng": d.lng}
        for i, d in enumerate(DISTRICTS, start=1)
    ]


def community_rows(ctx: Ctx) -> list[Row]:
    rows: list[Row] = []
    used: set[str] = set()
    for district_id, spec in enumerate(DISTRICTS, start=1):
        for number in range(1, spec.communities + 1):
            in_jinqiao = spec.code == JINQIAO[0] and number > spec.communities - JINQIAO[1]
            rows.append(_community(ctx, len(rows) + 1, district_id, spec, number, in_jinqiao, used))
    return rows


def _community(ctx: Ctx, row_id: int, district_id: int, spec: DistrictSpec, number: int, in_jinqiao: bool,
               used: set[str]) -> Row:
    prefix = JINQIAO_NAME if in_jinqiao else spec.town
    name_zh, name_en = _unique_name(ctx, prefix, used)
    centre = (JINQIAO[2], JINQIAO[3], 0.008) if in_jinqiao else (spec.lat, spec.lng, spec.spread_deg)
    lat, lng = ctx.near(*centre)
    return {
        "id": row_id, "district_id": district_id, "code": f"{spec.code}{number:03d}",
        "name_zh": name_zh, "name_en": name_en, "lat": lat, "lng": lng,
        "station_phone": ctx.landline(), "household_count": ctx.rng.randint(2000, 4000),
    }


def _unique_name(ctx: Ctx, prefix: tuple[str, str] | None, used: set[str]) -> tuple[str, str]:
    """A community name unique in the city (two 团结社区 in one city would confuse every caller)."""
    rng = ctx.rng
    while True:
        root_zh, root_en = rng.choice(names.PLACE_ROOTS)
        suffix_zh, suffix_en, directed = rng.choice(names.PLACE_STYLES)
        dir_zh, dir_en = rng.choice(names.DIRECTIONS) if directed else ("", "")
        core_zh = f"{root_zh}{dir_zh}{suffix_zh}"
        if core_zh in used:
            continue
        used.add(core_zh)
        words_en = [prefix[1]] if prefix else []
        words_en += [w for w in (root_en, dir_en, suffix_en) if w]
        return f"{prefix[0] if prefix else ''}{core_zh}社区", " ".join([*words_en, "Community"])


def grid_cell_rows(ctx: Ctx, communities: list[Row]) -> list[Row]:
    rows: list[Row] = []
    for community in communities:
        for number in range(1, cells_in(community["household_count"]) + 1):
            rows.append(_grid_cell(ctx, len(rows) + 1, community["id"], number))
    return rows


def cells_in(household_count: int) -> int:
    return math.ceil(household_count / HOUSEHOLDS_PER_CELL)


def _grid_cell(ctx: Ctx, row_id: int, community_id: int, number: int) -> Row:
    mongolian = ctx.chance(0.05)
    gender = ctx.gender()
    return {
        "id": row_id, "community_id": community_id, "number": number,
        # Grid leaders are mostly retired neighbours themselves.
        "leader_name": ctx.person(gender, elder=ctx.chance(0.6), mongolian=mongolian),
        "leader_phone": ctx.mobile(), "leader_language": "mn" if mongolian else "zh",
    }
