"""136 franchised provider companies: categories, coverage, working hours and workers.

Coverage is geographic (the communities nearest the company's base, mostly in its own district), then
repaired so that every community has, for every category, at least one active company offering every
service type of it: a demo order placed anywhere must find somebody to offer it to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from eldercare.demo import city, names
from eldercare.demo.catalog import CATEGORIES
from eldercare.demo.context import Ctx, Row, distance_km

CATEGORY_CODES = tuple(code for code, _zh, _en in CATEGORIES)
# By city.DISTRICTS order; 136 in all, most in the four urban districts.
PROVIDERS_PER_DISTRICT = (22, 24, 21, 33, 9, 8, 7, 5, 7)
# Rural companies are registered under their county's name, urban ones under the city's.
COMPANY_PREFIXES_EN = {"150121": "Tumed Left Banner", "150122": "Togtoh", "150123": "Horinger",
                       "150124": "Qingshuihe", "150125": "Wuchuan"}
NOT_ACTIVE = (
    ("suspended", "合同到期未续签"), ("suspended", "服务投诉调查中"), ("suspended", "资质年审未通过"),
    ("do_not_dispatch", "人员不足，暂停派单"), ("do_not_dispatch", "车辆维修，暂停派单"),
    ("pending_approval", None),
)
FLAGSHIPS = 2  # providers 1 and 2 carry the demo accounts: active, whole district, long hours
ALL_WEEK, MON_SAT, MON_FRI = range(7), range(6), range(5)
# (weekdays, opens, closes, weight); 00:00-23:59 is the "round the clock" of a time-of-day column.
HOURS_PATTERNS = (
    (MON_SAT, time(8, 0), time(18, 0), 45),
    (ALL_WEEK, time(8, 0), time(20, 0), 25),
    (MON_FRI, time(8, 30), time(17, 30), 15),
    (ALL_WEEK, time(7, 0), time(21, 0), 10),
    (ALL_WEEK, time(0, 0), time(23, 59), 5),
)
ROUND_THE_CLOCK_CATEGORIES = ("nursing", "repair", "escort")


@dataclass
class Plan:
    row: Row
    primary: str
    secondary: str | None
    base: tuple[float, float]
    coverage: set[int] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return self.row["status"] == "active"


def provider_tables(ctx: Ctx, communities: list[Row], service_types: list[Row]) -> dict[str, list[Row]]:
    plans = _plans(ctx, communities)
    _set_statuses(ctx, plans)
    for plan in plans:
        plan.coverage = _coverage(ctx, plan, communities)
    _fill_gaps(plans, communities)
    return {
        "providers": [plan.row for plan in plans],
        "provider_service_types": _offered_types(ctx, plans, service_types),
        "provider_coverage": [{"provider_id": p.row["id"], "community_id": c}
                              for p in plans for c in sorted(p.coverage)],
        "provider_hours": _hours(ctx, plans),
        "provider_workers": _workers(ctx, plans),
    }


def _plans(ctx: Ctx, communities: list[Row]) -> list[Plan]:
    plans: list[Plan] = []
    used_names: set[str] = set()
    for index, (spec, count) in enumerate(zip(city.DISTRICTS, PROVIDERS_PER_DISTRICT, strict=True)):
        own = [c for c in communities if c["district_id"] == index + 1]
        # Rotating the category cycle per district spreads every category over every district.
        rotation = CATEGORY_CODES[index * 2 % 9:] + CATEGORY_CODES[:index * 2 % 9]
        for k in range(count):
            primary = rotation[k % len(rotation)]
            plans.append(_plan(ctx, len(plans) + 1, index + 1, spec, own, primary, used_names))
    return plans


def _plan(ctx: Ctx, row_id: int, district_id: int, spec: city.DistrictSpec, own: list[Row], primary: str,
          used_names: set[str]) -> Plan:
    rng = ctx.rng
    secondary = rng.choice([c for c in CATEGORY_CODES if c != primary]) if ctx.chance(0.4) else None
    anchor = rng.choice(own)
    base = ctx.near(anchor["lat"], anchor["lng"], 0.004)
    name_zh, name_en = _company_name(ctx, spec, primary, used_names)
    joined = ctx.moment(2011, 2024)
    daily = rng.randint(10, 60)
    row = {
        "id": row_id, "code": f"PRV-{row_id:04d}", "name_zh": name_zh, "name_en": name_en,
        "contact_name": ctx.person(ctx.gender()), "phone": ctx.landline(), "address": _address(ctx, spec),
        "district_id": district_id, "base_lat": base[0], "base_lng": base[1],
        "daily_capacity": daily, "concurrent_capacity": min(daily, rng.randint(3, 15)),
        "status": "active", "status_reason": None, "rating": round(rng.uniform(3.6, 5.0), 2),
        "joined_on": joined, "created_at": joined, "updated_at": joined,
    }
    return Plan(row, primary, secondary, base)


def _company_name(ctx: Ctx, spec: city.DistrictSpec, category: str, used: set[str]) -> tuple[str, str]:
    prefix_zh = spec.address_zh if spec.town else "呼和浩特市"
    prefix_en = COMPANY_PREFIXES_EN.get(spec.code, "Hohhot")
    while True:
        brand_zh, brand_en = ctx.rng.choice(names.BRANDS)
        business_zh, business_en = ctx.rng.choice(names.BUSINESSES[category])
        if brand_zh + business_zh not in used:
            used.add(brand_zh + business_zh)
            break
    if business_zh.endswith("中心"):  # a registered non-profit, not a company
        return f"{prefix_zh}{brand_zh}{business_zh}", f"{prefix_en} {brand_en} {business_en}"
    return f"{prefix_zh}{brand_zh}{business_zh}有限公司", f"{prefix_en} {brand_en} {business_en} Co., Ltd."


def _address(ctx: Ctx, spec: city.DistrictSpec) -> str:
    number = ctx.rng.randint(1, 300)
    if spec.town:
        return f"{spec.address_zh}{spec.town[0]}{ctx.rng.choice(names.TOWN_STREETS)}{number}号"
    return f"{spec.address_zh}{ctx.rng.choice(names.URBAN_STREETS)}{number}号"


def _set_statuses(ctx: Ctx, plans: list[Plan]) -> None:
    for plan, (status, reason) in zip(ctx.rng.sample(plans[FLAGSHIPS:], len(NOT_ACTIVE)), NOT_ACTIVE, strict=True):
        plan.row["status"], plan.row["status_reason"] = status, reason
        if status == "pending_approval":
            plan.row["rating"] = None  # nobody has rated a company that has not worked yet


def _coverage(ctx: Ctx, plan: Plan, communities: list[Row]) -> set[int]:
    district_id = plan.row["district_id"]
    by_distance = sorted(communities, key=lambda c: distance_km(plan.base, (c["lat"], c["lng"])))
    own = [c["id"] for c in by_distance if c["district_id"] == district_id]
    if plan.row["id"] > FLAGSHIPS and city.DISTRICTS[district_id - 1].code in city.URBAN_CODES:
        # An urban company serves the part of its district it can reach quickly.
        own = own[:max(5, round(len(own) * ctx.rng.uniform(0.4, 0.9)))]
    covered = set(own)
    if ctx.chance(0.3):
        others = [c["id"] for c in by_distance if c["district_id"] != district_id]
        covered.update(others[:ctx.rng.randint(3, 8)])
    return covered


def _fill_gaps(plans: list[Plan], communities: list[Row]) -> None:
    """Give each uncovered (community, category) to the nearest active company of that category."""
    for category in CATEGORY_CODES:
        candidates = [p for p in plans if p.active and p.primary == category]
        for community in communities:
            if any(community["id"] in p.coverage for p in candidates):
                continue
            point = (community["lat"], community["lng"])
            nearest = min(candidates, key=lambda p: (p.row["district_id"] != community["district_id"],
                                                     distance_km(p.base, point)))
            nearest.coverage.add(community["id"])


def _offered_types(ctx: Ctx, plans: list[Plan], service_types: list[Row]) -> list[Row]:
    by_category: dict[str, list[int]] = {}
    for st in service_types:
        by_category.setdefault(st["code"].split(".")[0], []).append(st["id"])
    rows: list[Row] = []
    for plan in plans:
        offered = set(by_category[plan.primary])  # every type of its own trade
        if plan.secondary:
            extra = by_category[plan.secondary]
            offered.update(ctx.rng.sample(extra, ctx.rng.randint(len(extra) // 2, len(extra))))
        rows += [{"provider_id": plan.row["id"], "service_type_id": t} for t in sorted(offered)]
    return rows


def _hours(ctx: Ctx, plans: list[Plan]) -> list[Row]:
    rows: list[Row] = []
    for plan in plans:
        days, opens, closes = _hours_pattern(ctx, plan)
        for weekday in days:
            rows.append({"id": len(rows) + 1, "provider_id": plan.row["id"], "weekday": weekday,
                         "opens_at": opens, "closes_at": closes})
    return rows


def _hours_pattern(ctx: Ctx, plan: Plan) -> tuple[range, time, time]:
    if plan.row["id"] == 1 or (plan.primary in ROUND_THE_CLOCK_CATEGORIES and ctx.chance(0.2)):
        return HOURS_PATTERNS[-1][:3]
    if plan.row["id"] <= FLAGSHIPS:
        return HOURS_PATTERNS[3][:3]
    weights = [p[3] for p in HOURS_PATTERNS]
    return ctx.rng.choices(HOURS_PATTERNS, weights=weights)[0][:3]


def _workers(ctx: Ctx, plans: list[Plan]) -> list[Row]:
    rows: list[Row] = []
    for plan in plans:
        skills = names.SKILLS[plan.primary] + (names.SKILLS[plan.secondary] if plan.secondary else ())
        for _ in range(8 if plan.row["id"] <= FLAGSHIPS else ctx.rng.randint(3, 8)):
            joined = max(plan.row["joined_on"], ctx.moment(2011, 2024))
            rows.append({
                "id": len(rows) + 1, "provider_id": plan.row["id"], "name": ctx.person(ctx.gender()),
                "phone": ctx.mobile(), "skills": "、".join(ctx.rng.sample(skills, ctx.rng.randint(1, 3))),
                "active": ctx.chance(0.95), "created_at": joined, "updated_at": joined,
            })
    return rows
