"""About 4,000 registered households with 5,000+ elderly residents and 1-3 contacts each."""

from __future__ import annotations

from datetime import datetime, time

from eldercare.demo import city, names
from eldercare.demo.context import Ctx, Row

TARGET_HOUSEHOLDS = 4000
HOUSEHOLD_SIZES = ((1, 2, 3), (60, 37, 3))  # living alone, a couple, a couple with a very old parent
MOBILITY = (("independent", "cane", "wheelchair", "bedridden"), (55, 27, 12, 6))
FIRST_RELATIONS = (("child", "relative", "neighbour"), (80, 10, 10))
LATER_RELATIONS = (("child", "neighbour", "relative", "friend", "carer"), (40, 25, 15, 10, 10))
CONTACT_WINDOWS = (
    (time(8, 0), time(18, 0), "工作日白天可接"),
    (time(18, 0), time(22, 30), "下班后可接"),
    (time(10, 0), time(22, 0), "夜班，上午十点前休息"),
    (None, None, "在外地，仅电话联系"),
    (time(7, 30), time(21, 0), "周末在家"),
)


def household_tables(ctx: Ctx, communities: list[Row], grid_cells: list[Row]) -> dict[str, list[Row]]:
    first_cell: dict[int, int] = {}
    for cell in grid_cells:
        first_cell.setdefault(cell["community_id"], cell["id"])
    quotas = allocate([c["household_count"] for c in communities], TARGET_HOUSEHOLDS)
    out: dict[str, list[Row]] = {"households": [], "residents": [], "contacts": []}
    for community, quota in zip(communities, quotas, strict=True):
        cells = (first_cell[community["id"]], city.cells_in(community["household_count"]))
        for number in range(1, quota + 1):
            _add_household(ctx, out, community, number, cells)
    return out


def allocate(weights: list[int], total: int) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder, ties to the earlier index)."""
    whole = sum(weights)
    exact = [w * total / whole for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:total - sum(shares)]:
        shares[i] += 1
    return shares


def _add_household(ctx: Ctx, out: dict[str, list[Row]], community: Row, number: int,
                   cells: tuple[int, int]) -> None:
    mongolian = ctx.chance(0.07)
    size = ctx.rng.choices(*HOUSEHOLD_SIZES)[0]
    registered = ctx.moment(2011, 2024)
    household = _household(ctx, len(out["households"]) + 1, community, number, cells, size == 1, registered)
    out["households"].append(household)
    first_born = _birth_year(ctx)
    for k, gender in enumerate(_genders(ctx, size)):
        born = first_born if k == 0 else _relative_birth_year(ctx, first_born, k)
        out["residents"].append(_resident(ctx, len(out["residents"]) + 1, household["id"], gender, born,
                                          size == 1, mongolian, registered))
    for priority in range(1, ctx.rng.choices((1, 2, 3), weights=(30, 45, 25))[0] + 1):
        out["contacts"].append(_contact(ctx, len(out["contacts"]) + 1, household["id"], priority, mongolian))


def _household(ctx: Ctx, row_id: int, community: Row, number: int, cells: tuple[int, int], alone: bool,
               registered: datetime) -> Row:
    rng = ctx.rng
    spec = city.DISTRICTS[community["district_id"] - 1]
    lat, lng = ctx.near(community["lat"], community["lng"], 0.003)
    key_safe = ctx.chance(0.1)
    return {
        "id": row_id, "code": f"H{community['code']}{number:03d}", "community_id": community["id"],
        "grid_cell_id": cells[0] + rng.randrange(cells[1]), "address": _address(ctx, spec),
        "lat": lat, "lng": lng, "phone": ctx.landline() if ctx.chance(0.6) else None,
        "access_info": _access_info(ctx, spec.town is not None, key_safe),
        "key_safe_code": f"{rng.randrange(10000):04d}" if key_safe else None,
        "notify_family_parallel": ctx.chance(0.25),
        # Supervision is switched on mostly for people living alone: nobody else would notice.
        "no_activity_hours": rng.choice((12, 16, 24)) if ctx.chance(0.45 if alone else 0.15) else None,
        "notes": _household_note(ctx, spec.town is not None), "active": True,
        "created_at": registered, "updated_at": registered,
    }


def _address(ctx: Ctx, spec: city.DistrictSpec) -> str:
    rng = ctx.rng
    if spec.town is None:  # walk-up blocks: compound, building, stairwell, flat
        street = rng.choice(names.URBAN_STREETS)
        return (f"{spec.address_zh}{street}{rng.randint(1, 200)}号院{rng.randint(1, 24)}号楼"
                f"{rng.randint(1, 6)}单元{rng.randint(1, 7)}{rng.randint(1, 2):02d}室")
    if ctx.chance(0.3):
        return f"{spec.address_zh}{spec.town[0]}{rng.choice(names.VILLAGES)}{rng.randint(1, 150)}号"
    return f"{spec.address_zh}{spec.town[0]}{rng.choice(names.TOWN_STREETS)}{rng.randint(1, 150)}号"


def _access_info(ctx: Ctx, rural: bool, key_safe: bool) -> str | None:
    if key_safe:
        return names.KEY_SAFE_NOTE
    if not ctx.chance(0.3):
        return None
    template = ctx.rng.choice(names.ACCESS_RURAL if rural else names.ACCESS_URBAN)
    room = f"{ctx.rng.randint(1, 7)}{ctx.rng.randint(1, 2):02d}"
    return template.format(code=f"{ctx.rng.randrange(10000):04d}", room=room)


def _household_note(ctx: Ctx, rural: bool) -> str | None:
    if not ctx.chance(0.2):
        return None
    return ctx.rng.choice(names.NOTES_ANY + (names.NOTES_RURAL if rural else names.NOTES_URBAN))


def _genders(ctx: Ctx, size: int) -> list[str]:
    if size == 1:
        return [ctx.rng.choices("fm", weights=(62, 38))[0]]  # more widows than widowers
    if size == 3:
        return ["m", "f", ctx.rng.choices("fm", weights=(70, 30))[0]]
    return ["m", "f"]


def _birth_year(ctx: Ctx) -> int:
    return int(ctx.rng.triangular(1926, 1962, 1946))


def _relative_birth_year(ctx: Ctx, first_born: int, k: int) -> int:
    if k == 1:  # spouse
        return min(1961, max(1926, first_born + ctx.rng.randint(-3, 6)))
    return max(1926, min(first_born - 20, 1935))  # the very old parent


def _resident(ctx: Ctx, row_id: int, household_id: int, gender: str, born: int, alone: bool, mongolian: bool,
              registered: datetime) -> Row:
    rng = ctx.rng
    mobility = rng.choices(*MOBILITY)[0]
    health_notes, medication = _health(ctx)
    speaks_mn = mongolian and ctx.chance(0.8)
    return {
        "id": row_id, "household_id": household_id, "name": ctx.person(gender, elder=True, mongolian=mongolian),
        "gender": gender, "birth_year": born, "phone": ctx.mobile() if ctx.chance(0.45) else None,
        "language": "mn" if speaks_mn else "zh", "dialect": _dialect(ctx, speaks_mn),
        "health_notes": health_notes, "medication": medication, "mobility": mobility, "lives_alone": alone,
        "subsidy_level": _subsidy(ctx, born, mobility), "registered_on": registered, "active": True,
        "created_at": registered, "updated_at": registered,
    }


def _dialect(ctx: Ctx, speaks_mn: bool) -> str | None:
    if speaks_mn:
        return ctx.rng.choice(names.DIALECTS_MN)
    return ctx.rng.choice(names.DIALECTS_ZH) if ctx.chance(0.2) else None


def _health(ctx: Ctx) -> tuple[str | None, str | None]:
    if not ctx.chance(0.75):
        return None, None
    picked = ctx.rng.sample(names.CONDITIONS, ctx.rng.randint(1, 3))
    if sum("糖尿病" in condition for condition, _ in picked) > 1:
        picked = picked[:1]  # one diabetes diagnosis per person
    drugs = [drug for _, drug in picked if drug]
    medication = "；".join(drugs) if drugs and ctx.chance(0.85) else None
    return "；".join(condition for condition, _ in picked), medication


def _subsidy(ctx: Ctx, born: int, mobility: str) -> str | None:
    if ctx.chance(0.08):
        return "low-income"
    if mobility in ("wheelchair", "bedridden") and ctx.chance(0.5):
        return "disabled"
    return "80+" if born <= 1944 else None


def _contact(ctx: Ctx, row_id: int, household_id: int, priority: int, mongolian: bool) -> Row:
    rng = ctx.rng
    relation = rng.choices(*(FIRST_RELATIONS if priority == 1 else LATER_RELATIONS))[0]
    opens, closes, note = rng.choice(CONTACT_WINDOWS) if ctx.chance(0.25) else (None, None, None)
    nearby = relation in ("neighbour", "carer") or ctx.chance(0.4)
    return {
        "id": row_id, "household_id": household_id, "priority": priority,
        "name": ctx.person(ctx.gender(), mongolian=mongolian and relation != "neighbour"),
        "relation": relation, "phone": ctx.mobile(), "language": "mn" if mongolian and ctx.chance(0.4) else "zh",
        "has_key": ctx.chance(0.7 if relation == "neighbour" else 0.5 if relation == "child" else 0.2),
        "lives_nearby": nearby, "available_from": opens, "available_to": closes, "available_note": note,
    }
