"""The demo-data generators, without a database: scale, determinism, and the promises matching relies on."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import pytest

from eldercare.demo.city import DISTRICTS
from eldercare.demo.generate import TABLE_ORDER, DemoData, generate_demo
from eldercare.demo.homes import allocate

E164_CN_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
LANDLINE = re.compile(r"^0471-\d{7}$")
COMMUNITIES_PER_DISTRICT = {"新城区": 48, "回民区": 57, "玉泉区": 49, "赛罕区": 87, "土左旗": 13, "托县": 12,
                            "和林县": 10, "清水河": 6, "武川县": 7}
CATEGORY_CODES = {"care", "housekeeping", "repair", "meal", "nursing", "escort", "bathing", "rehab", "comfort"}


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate_demo()


@pytest.fixture(scope="module")
def tables(demo: DemoData) -> dict[str, list[dict]]:
    return demo.tables


def test_two_builds_are_identical(demo):
    again = generate_demo()
    assert again.tables == demo.tables
    assert again.users == demo.users


def test_another_seed_gives_other_data(demo):
    assert generate_demo(seed=7).tables["communities"] != demo.tables["communities"]


def test_tables_come_in_insertion_order_with_ids_from_one(tables):
    assert tuple(tables) == TABLE_ORDER
    for name, rows in tables.items():
        if "id" in rows[0]:
            assert [r["id"] for r in rows] == list(range(1, len(rows) + 1)), name


def test_every_reference_points_at_an_existing_row(tables):
    ids = {name: {r["id"] for r in rows if "id" in r} for name, rows in tables.items()}
    references = {
        "communities": {"district_id": "districts"},
        "grid_cells": {"community_id": "communities"},
        "service_types": {"category_id": "service_categories"},
        "providers": {"district_id": "districts"},
        "provider_service_types": {"provider_id": "providers", "service_type_id": "service_types"},
        "provider_coverage": {"provider_id": "providers", "community_id": "communities"},
        "provider_hours": {"provider_id": "providers"},
        "provider_workers": {"provider_id": "providers"},
        "emergency_teams": {"district_id": "districts"},
        "team_members": {"team_id": "emergency_teams"},
        "households": {"community_id": "communities", "grid_cell_id": "grid_cells"},
        "residents": {"household_id": "households"},
        "contacts": {"household_id": "households"},
        "devices": {"household_id": "households"},
    }
    for table, columns in references.items():
        for column, target in columns.items():
            assert {r[column] for r in tables[table]} <= ids[target], (table, column)


def test_exact_districts_and_community_counts(tables):
    names = {d["id"]: d["name_zh"] for d in tables["districts"]}
    counts = Counter(names[c["district_id"]] for c in tables["communities"])
    assert counts == COMMUNITIES_PER_DISTRICT
    assert len(tables["communities"]) == 289
    assert sum(spec.communities for spec in DISTRICTS) == 289


def test_six_jinqiao_communities_in_saihan(tables):
    saihan = next(d["id"] for d in tables["districts"] if d["name_zh"] == "赛罕区")
    jinqiao = [c for c in tables["communities"] if c["name_zh"].startswith("金桥开发区")]
    assert len(jinqiao) == 6
    assert all(c["district_id"] == saihan and c["name_zh"].endswith("社区") for c in jinqiao)
    assert all(c["name_en"].startswith("Jinqiao Development Zone") for c in jinqiao)


def test_communities_are_named_coded_and_placed(tables):
    communities = tables["communities"]
    assert len({c["code"] for c in communities}) == 289
    assert len({c["name_zh"] for c in communities}) == 289
    assert len({c["name_en"] for c in communities}) == 289
    for c in communities:
        assert 2000 <= c["household_count"] <= 4000
        assert LANDLINE.match(c["station_phone"])
        assert c["name_zh"].endswith("社区") and c["name_en"].endswith("Community")
        assert 39.8 < c["lat"] < 41.2 and 111.0 < c["lng"] < 112.0  # Hohhot's urban area and its counties


def test_one_grid_cell_with_a_leader_per_fifty_households(tables):
    cells = defaultdict(list)
    for cell in tables["grid_cells"]:
        cells[cell["community_id"]].append(cell)
        assert E164_CN_MOBILE.match(cell["leader_phone"])
        assert cell["leader_name"] and cell["leader_language"] in ("zh", "mn")
    for c in tables["communities"]:
        assert [g["number"] for g in cells[c["id"]]] == list(range(1, math.ceil(c["household_count"] / 50) + 1))


def test_catalogue_has_nine_categories_and_over_a_hundred_types(tables):
    assert {c["code"] for c in tables["service_categories"]} == CATEGORY_CODES
    types = tables["service_types"]
    assert len(types) >= 100
    assert len({t["code"] for t in types}) == len(types)
    by_id = {c["id"]: c["code"] for c in tables["service_categories"]}
    for t in types:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", t["code"])
        assert t["code"].split(".")[0] == by_id[t["category_id"]]
        assert t["name_zh"] and t["name_en"] and t["unit"]
        assert t["unit_price"] >= 0 and t["default_sla_minutes"] > 0 and t["offer_expiry_s"] > 0
    assert set(Counter(t["category_id"] for t in types)) == set(by_id)


def test_providers_scale_status_and_categories(tables):
    providers = tables["providers"]
    assert len(providers) >= 130
    statuses = Counter(p["status"] for p in providers)
    assert statuses["active"] >= 125 and statuses["suspended"] >= 1 and statuses["do_not_dispatch"] >= 1
    assert providers[0]["status"] == providers[1]["status"] == "active"  # provider1/provider2 demo accounts
    category_of = {t["id"]: t["category_id"] for t in tables["service_types"]}
    categories = defaultdict(set)
    for row in tables["provider_service_types"]:
        categories[row["provider_id"]].add(category_of[row["service_type_id"]])
    assert all(1 <= len(categories[p["id"]]) <= 2 for p in providers)
    assert len({p["name_zh"] for p in providers}) == len(providers)


def test_every_community_has_an_active_provider_for_every_service_type(tables):
    active = {p["id"] for p in tables["providers"] if p["status"] == "active"}
    coverage = defaultdict(set)
    for row in tables["provider_coverage"]:
        coverage[row["provider_id"]].add(row["community_id"])
    covered = set()
    for row in tables["provider_service_types"]:
        if row["provider_id"] in active:
            covered.update((c, row["service_type_id"]) for c in coverage[row["provider_id"]])
    wanted = {(c["id"], t["id"]) for c in tables["communities"] for t in tables["service_types"]}
    assert wanted <= covered


def test_coverage_is_mostly_the_providers_own_district(tables):
    district_of = {c["id"]: c["district_id"] for c in tables["communities"]}
    provider_district = {p["id"]: p["district_id"] for p in tables["providers"]}
    rows = tables["provider_coverage"]
    own = sum(district_of[r["community_id"]] == provider_district[r["provider_id"]] for r in rows)
    assert own / len(rows) > 0.8


def test_provider_hours_and_workers(tables):
    hours = defaultdict(list)
    for h in tables["provider_hours"]:
        assert 0 <= h["weekday"] <= 6 and h["opens_at"] < h["closes_at"]
        hours[h["provider_id"]].append(h)
    for provider_id, rows in hours.items():
        assert len({h["weekday"] for h in rows}) == len(rows), provider_id
    assert set(hours) == {p["id"] for p in tables["providers"]}
    round_the_clock = [rows for rows in hours.values() if rows[0]["opens_at"].hour == 0 and len(rows) == 7]
    assert len(round_the_clock) >= 3
    workers = Counter(w["provider_id"] for w in tables["provider_workers"])
    assert all(3 <= workers[p["id"]] <= 8 for p in tables["providers"])


def test_twelve_emergency_teams_mostly_urban(tables):
    teams = tables["emergency_teams"]
    assert len(teams) == 12
    assert all(t["state"] == "available" for t in teams)
    assert sum(t["district_id"] <= 4 for t in teams) >= 8  # districts 1-4 are the urban ones
    members = Counter(m["team_id"] for m in tables["team_members"])
    assert all(4 <= members[t["id"]] <= 6 for t in teams)


def test_households_residents_and_contacts(tables):
    households, residents = tables["households"], tables["residents"]
    assert len(households) >= 3900 and len(residents) >= 5000
    assert {h["community_id"] for h in households} == {c["id"] for c in tables["communities"]}
    cell_community = {g["id"]: g["community_id"] for g in tables["grid_cells"]}
    assert all(cell_community[h["grid_cell_id"]] == h["community_id"] for h in households)
    assert len({h["code"] for h in households}) == len(households)
    assert all(1926 <= r["birth_year"] <= 1961 and r["gender"] in ("f", "m") for r in residents)
    assert {r["language"] for r in residents} == {"zh", "mn"}
    assert sum(bool(r["health_notes"]) for r in residents) > len(residents) / 2
    size = Counter(r["household_id"] for r in residents)
    assert all(r["lives_alone"] == (size[r["household_id"]] == 1) for r in residents)


def test_contacts_are_called_in_priority_order(tables):
    priorities = defaultdict(list)
    for c in tables["contacts"]:
        priorities[c["household_id"]].append(c["priority"])
        assert (c["available_from"] is None) == (c["available_to"] is None)
    assert set(priorities) == {h["id"] for h in tables["households"]}
    assert all(p == list(range(1, len(p) + 1)) and len(p) <= 3 for p in priorities.values())


def test_devices_protocols_and_uids(tables):
    devices = tables["devices"]
    assert len(devices) >= 1300
    assert len({d["household_id"] for d in devices}) == len(devices)
    assert len({(d["protocol"], d["uid"]) for d in devices}) == len(devices)
    patterns = {"dc09": r"[0-9A-F]{4,6}", "watch": r"[1-9]\d{9}", "sms": r"\+861[3-9]\d{9}", "http": r"HTTP-\d{6}"}
    for d in devices:
        assert re.fullmatch(patterns[d["protocol"]], d["uid"]), d
        assert d["token_hash"] is None and d["status"] == "active" and d["online"]
        assert d["aes_key"] is None or (d["protocol"] == "dc09" and re.fullmatch(r"[0-9A-F]{32}", d["aes_key"]))
    assert set(Counter(d["protocol"] for d in devices)) == {"http", "dc09", "watch", "sms"}
    dc09 = [d for d in devices if d["protocol"] == "dc09"]
    assert 0.2 < sum(bool(d["aes_key"]) for d in dc09) / len(dc09) < 0.45
    assert all(d["phone"] == d["uid"] for d in devices if d["protocol"] == "sms")


def test_phone_numbers_are_never_shared(tables):
    # SMS replies and SMS devices are recognised by the sender's number.
    numbers = [c["leader_phone"] for c in tables["grid_cells"]]
    numbers += [r["phone"] for name in ("residents", "contacts", "provider_workers", "team_members")
                for r in tables[name] if r["phone"]]
    numbers += [d["phone"] for d in tables["devices"] if d["phone"]]
    assert len(numbers) == len(set(numbers))


def test_demo_accounts(demo):
    users = {u["username"]: u for u in demo.users}
    assert {"admin", "supervisor1", "operator1", "provider1", "team1"} <= set(users)
    assert users["admin"]["role"] == "admin"
    assert users["supervisor1"]["role"] == "supervisor" and users["operator1"]["role"] == "operator"
    first_provider = min(p["id"] for p in demo.tables["providers"])
    assert users["provider1"]["role"] == "provider_staff" and users["provider1"]["provider_id"] == first_provider
    assert users["team1"]["role"] == "team_member" and users["team1"]["team_id"] == 1
    assert "password_hash" not in users["admin"]


@pytest.mark.parametrize(("weights", "total"), [([1, 1, 1], 10), ([2000, 4000, 3000], 7), ([5], 3)])
def test_allocate_splits_exactly(weights, total):
    shares = allocate(weights, total)
    assert sum(shares) == total
    assert all(abs(s - w * total / sum(weights)) < 1 for s, w in zip(shares, weights, strict=True))
