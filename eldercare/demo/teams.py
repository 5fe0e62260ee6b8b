"""The 12 emergency teams (应急服务队) and their members."""

from __future__ import annotations

from eldercare.demo import city
from eldercare.demo.context import REFERENCE_TIME, Ctx, Row

# District code of each team, team 1 first: two per urban district, a third for Saihan (the largest,
# based in Jinqiao), and one for each of the three rural counties furthest from town.
TEAM_DISTRICTS = ("150102", "150102", "150103", "150103", "150104", "150104", "150105", "150105", "150105",
                  "150121", "150123", "150125")
ORDINALS = "一二三"
MEMBER_ROLES = ("leader", "driver", "nurse", "member", "member", "member")


def team_tables(ctx: Ctx) -> dict[str, list[Row]]:
    teams: list[Row] = []
    members: list[Row] = []
    seen: dict[str, int] = {}
    for code in TEAM_DISTRICTS:
        seen[code] = seen.get(code, 0) + 1
        team = _team(ctx, len(teams) + 1, code, seen[code])
        teams.append(team)
        for role in MEMBER_ROLES[:ctx.rng.randint(4, 6)]:
            members.append({"id": len(members) + 1, "team_id": team["id"], "name": ctx.person(ctx.gender()),
                            "phone": ctx.mobile(), "role": role, "on_duty": True})
    return {"emergency_teams": teams, "team_members": members}


def _team(ctx: Ctx, row_id: int, district_code: str, number: int) -> Row:
    district_id, spec = next((i, d) for i, d in enumerate(city.DISTRICTS, start=1) if d.code == district_code)
    in_jinqiao = district_code == city.JINQIAO[0] and number == 3
    centre = (city.JINQIAO[2], city.JINQIAO[3]) if in_jinqiao else (spec.lat, spec.lng)
    lat, lng = ctx.near(*centre, 0.006)
    founded = ctx.moment(2011, 2016)
    short_en = spec.name_en.rsplit(" ", 1)[0]
    return {
        "id": row_id, "code": f"ERT-{row_id:02d}", "name_zh": f"{spec.name_zh}应急服务{ORDINALS[number - 1]}队",
        "name_en": f"{short_en} Emergency Team {number}", "district_id": district_id,
        "base_lat": lat, "base_lng": lng, "phone": ctx.mobile(),  # the duty phone carried by the shift leader
        "state": "available", "state_changed_at": REFERENCE_TIME, "created_at": founded, "updated_at": founded,
    }
