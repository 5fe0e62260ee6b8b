"""Issue 6, matching: each eligibility rule, the ranking's components and weights (pure), properties of
both (hypothesis), and the eligible set on the demo city checked against the database independently."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from eldercare.dispatch import matching
from eldercare.dispatch.matching import Directory, Load, MatchRequest, ProviderInfo, Stats
from tests.dispatch_helpers import busy_household, next_local

# 2026-12-02 is a Wednesday (weekday 2); 02:00 UTC is 10:00 in the city.
WED_10 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
HOME = (40.84, 111.75)


def provider(pid: int = 1, **overrides: object) -> ProviderInfo:
    values = {
        "id": pid, "name_zh": f"公司{pid}", "district_id": 1, "urban": True, "lat": HOME[0], "lng": HOME[1],
        "status": "active", "daily_capacity": 20, "concurrent_capacity": 5, "prior_rating": 4.5,
        "service_type_ids": frozenset({7}), "community_ids": frozenset({10}),
        "hours": {d: (time(8), time(18)) for d in range(7)},
    }
    return ProviderInfo(**{**values, **overrides})


def directory(*providers: ProviderInfo) -> Directory:
    return Directory({p.id: p for p in providers}, {7: tuple(p.id for p in providers)},
                     {10: 1, 11: 1, 20: 2}, frozenset({10, 11}), sum(p.daily_capacity for p in providers) or 1)


def request(**overrides: object) -> MatchRequest:
    values = {"service_type_id": 7, "community_id": 10, "lat": HOME[0], "lng": HOME[1], "service_at": WED_10,
              "created_at": WED_10, "sla_minutes": 240}
    return MatchRequest(**{**values, **overrides})


# --- the rules -----------------------------------------------------------------------------------------

def test_offers_type():
    assert matching.offers_type(provider(), request())
    assert not matching.offers_type(provider(service_type_ids=frozenset({8})), request())


def test_covers_the_community_and_widened_the_district():
    d = directory(provider())
    assert matching.covers(provider(), request(), d)
    assert not matching.covers(provider(community_ids=frozenset({11})), request(), d)
    assert matching.covers(provider(community_ids=frozenset({11})), request(widen=True), d)  # same district
    far = provider(district_id=2, community_ids=frozenset({20}))
    assert not matching.covers(far, request(widen=True), d)
    assert matching.covers(provider(district_id=1, community_ids=frozenset({20})), request(widen=True), d)


@pytest.mark.parametrize(("status", "eligible"), [("active", True), ("suspended", False),
                                                  ("do_not_dispatch", False), ("pending_approval", False)])
def test_only_active_companies(status, eligible):
    assert matching.is_active(provider(status=status)) is eligible


def test_open_hours_in_centre_time():
    p = provider(hours={2: (time(8), time(18))})
    assert matching.is_open(p, WED_10)
    assert matching.is_open(p, WED_10.replace(hour=0))  # 08:00 local: opening time is open
    assert not matching.is_open(p, WED_10.replace(hour=10))  # 18:00 local: closed
    assert not matching.is_open(p, WED_10 - timedelta(hours=3))  # 07:00 local
    assert not matching.is_open(p, WED_10 + timedelta(days=1))  # Thursday: no hours that day


def test_round_the_clock_means_until_midnight():
    p = provider(hours={2: (time(0), time(23, 59))})
    assert matching.is_open(p, datetime(2026, 12, 2, 15, 59, 30, tzinfo=UTC))  # 23:59:30 local


@pytest.mark.parametrize(("load", "ok"), [(Load(4, 19), True), (Load(5, 0), False), (Load(0, 20), False)])
def test_capacity_concurrent_and_daily(load, ok):
    assert matching.under_capacity(provider(concurrent_capacity=5, daily_capacity=20), load) is ok


def test_screen_names_the_first_rule_that_fails():
    d = directory(provider())
    assert matching.screen(provider(), request(), d, Load()) is None
    assert matching.screen(provider(service_type_ids=frozenset(), status="suspended"), request(), d, Load()) \
        == "offers_type"
    assert matching.screen(provider(community_ids=frozenset({20}), status="suspended"), request(), d, Load()) \
        == "covers"
    assert matching.screen(provider(status="suspended", hours={}), request(), d, Load()) == "active"
    assert matching.screen(provider(hours={}), request(), d, Load(9, 99)) == "open"
    assert matching.screen(provider(), request(), d, Load(5, 0)) == "capacity"


# --- the ranking ---------------------------------------------------------------------------------------

def ranked(*providers: ProviderInfo, stats: Stats | None = None, loads: dict | None = None,
           req: MatchRequest | None = None, now: datetime = WED_10) -> list[int]:
    req = req or request()
    return [c.provider_id for c in matching.rank(req, providers, directory(*providers), stats or Stats(),
                                                 loads or {}, now)]


def test_nearer_ranks_higher():
    assert ranked(provider(1, lat=HOME[0] + 0.05), provider(2, lat=HOME[0] + 0.01)) == [2, 1]


def test_better_rated_ranks_higher_but_one_bad_rating_does_not_sink_a_company():
    assert ranked(provider(1, prior_rating=4.0), provider(2, prior_rating=4.8)) == [2, 1]
    assert matching.bayesian_rating(5.0, 1, 1) == pytest.approx(26 / 6)
    one_bad = Stats(rating_sum={2: 1}, rating_n={2: 1})
    assert ranked(provider(1, prior_rating=4.0), provider(2, prior_rating=5.0), stats=one_bad) == [2, 1]


def test_acceptance_rate_with_a_prior():
    assert matching.acceptance_rate(0, 0) == pytest.approx(0.8)
    assert matching.acceptance_rate(0, 10) == pytest.approx(4 / 15)
    refuser = Stats(accepted={1: 0}, decided={1: 10})
    assert ranked(provider(1), provider(2), stats=refuser) == [2, 1]


def test_less_loaded_ranks_higher():
    assert ranked(provider(1), provider(2), loads={1: Load(4, 4)}) == [2, 1]


def test_fairness_favours_the_franchisee_behind_its_share():
    behind = Stats(month_orders={1: 30, 2: 0}, month_total=30)
    assert ranked(provider(1), provider(2), stats=behind) == [2, 1]


def test_ties_go_to_the_lower_id():
    assert ranked(provider(3), provider(2), provider(5)) == [2, 3, 5]


def test_waiting_shifts_weight_from_fairness_to_travel_time():
    fresh = matching.weights_for(request(), WED_10)
    assert fresh == pytest.approx(matching.BASE_WEIGHTS)
    late = matching.weights_for(request(), WED_10 + timedelta(minutes=240))
    assert late["eta"] == pytest.approx(0.45) and late["fairness"] == pytest.approx(0.05)
    assert sum(late.values()) == pytest.approx(1.0)
    # The nearer company that has had more than its share: behind on fairness, ahead once the order waited.
    near_busy = provider(1, lat=HOME[0] + 0.005)
    far_idle = provider(2, lat=HOME[0] + 0.12)
    share = Stats(month_orders={1: 50}, month_total=50)
    assert ranked(near_busy, far_idle, stats=share) == [2, 1]
    assert ranked(near_busy, far_idle, stats=share, now=WED_10 + timedelta(minutes=300)) == [1, 2]


# --- properties ----------------------------------------------------------------------------------------

providers_strategy = st.lists(
    st.builds(
        lambda pid, dlat, rating, cc, dc, status, covers, offers, opens, closes: provider(
            pid, lat=HOME[0] + dlat, prior_rating=rating, concurrent_capacity=cc, daily_capacity=dc, status=status,
            community_ids=frozenset({10} if covers else {20}), service_type_ids=frozenset({7} if offers else {8}),
            hours={2: (time(opens), time(max(opens + 1, closes)))}),
        st.integers(1, 10_000), st.floats(-0.5, 0.5), st.floats(1, 5), st.integers(0, 10), st.integers(0, 40),
        st.sampled_from(("active", "suspended", "do_not_dispatch")), st.booleans(), st.booleans(),
        st.integers(0, 20), st.integers(1, 23)),
    max_size=30, unique_by=lambda p: p.id)


@settings(max_examples=200, deadline=None)
@given(providers=providers_strategy, data=st.data())
def test_ranking_properties(providers, data):
    loads = {p.id: Load(data.draw(st.integers(0, 12)), data.draw(st.integers(0, 50))) for p in providers}
    stats = Stats(accepted={p.id: 3 for p in providers}, decided={p.id: data.draw(st.integers(3, 9))
                                                                  for p in providers},
                  month_orders={p.id: data.draw(st.integers(0, 40)) for p in providers}, month_total=400)
    waited = data.draw(st.integers(0, 1000))
    ranking = matching.rank(request(), providers, directory(*providers), stats, loads,
                            WED_10 + timedelta(minutes=waited))
    assert sorted(c.provider_id for c in ranking) == sorted(p.id for p in providers)
    assert all(0 <= v <= 1 for c in ranking for v in c.components.values())
    assert all(-1e-9 <= c.score <= 1 + 1e-9 for c in ranking)
    assert [c.score for c in ranking] == sorted((c.score for c in ranking), reverse=True)
    assert all(sum(c.weights.values()) == pytest.approx(1.0) for c in ranking)


@settings(max_examples=200, deadline=None)
@given(providers=providers_strategy, active=st.integers(0, 12), day=st.integers(0, 50))
def test_eligible_exactly_when_every_rule_holds(providers, active, day):
    d, req, load = directory(*providers), request(), Load(active, day)
    for p in providers:
        every_rule = (matching.offers_type(p, req) and matching.covers(p, req, d) and matching.is_active(p)
                      and matching.is_open(p, req.service_at) and matching.under_capacity(p, load))
        assert (matching.screen(p, req, d, load) is None) is every_rule


# --- on the demo city ----------------------------------------------------------------------------------

@pytest.fixture
def fresh_cache(db_session):
    matching.invalidate()
    yield
    matching.invalidate()


def test_the_eligible_set_matches_the_database(app, db_session, fresh_cache):
    """Recomputed here with SQL of its own: every eligible provider satisfies every rule, and nobody who
    does is left out."""
    from eldercare.catalog.models import ServiceType
    from eldercare.core.time import CITY_TZ
    from eldercare.households.models import Household
    from eldercare.providers.models import Provider, ProviderHours, provider_coverage, provider_service_types

    household = db_session.get(Household, busy_household(db_session))
    type_id = db_session.scalar(sa.select(ServiceType.id).where(ServiceType.code == "care.home_visit"))
    at = next_local(weekday=2, hour=10)
    local = at.astimezone(CITY_TZ)
    expected = set(db_session.scalars(
        sa.select(Provider.id)
        .join(provider_service_types, provider_service_types.c.provider_id == Provider.id)
        .join(provider_coverage, provider_coverage.c.provider_id == Provider.id)
        .join(ProviderHours, ProviderHours.provider_id == Provider.id)
        .where(provider_service_types.c.service_type_id == type_id,
               provider_coverage.c.community_id == household.community_id, Provider.status == "active",
               ProviderHours.weekday == local.weekday(), ProviderHours.opens_at <= local.time(),
               ProviderHours.closes_at > local.time())))
    req = MatchRequest(type_id, household.community_id, household.lat, household.lng, at, at, 240)
    screening = matching.evaluate(req, at)
    assert {c.provider_id for c in screening.eligible} == expected
    assert expected and not expected & set(screening.rejected)
    assert [c.score for c in screening.eligible] == sorted((c.score for c in screening.eligible), reverse=True)


def test_a_suspended_company_drops_out_once_the_cache_is_renewed(app, db_session, fresh_cache):
    from eldercare.households.models import Household
    from eldercare.providers.models import Provider

    household = db_session.get(Household, busy_household(db_session))
    type_id = db_session.scalar(sa.text("SELECT id FROM service_types WHERE code = 'care.home_visit'"))
    at = next_local(weekday=2, hour=10)
    req = MatchRequest(type_id, household.community_id, household.lat, household.lng, at, at, 240)
    best = matching.eligible_providers(req, at)[0].provider_id
    db_session.execute(sa.update(Provider).where(Provider.id == best).values(status="suspended"))
    matching.invalidate()
    assert best not in [c.provider_id for c in matching.eligible_providers(req, at)]
    assert matching.evaluate(req, at).rejected[best] == "active"


def test_widening_adds_the_district(app, db_session, fresh_cache):
    from eldercare.households.models import Household

    household = db_session.get(Household, busy_household(db_session))
    type_id = db_session.scalar(sa.text("SELECT id FROM service_types WHERE code = 'care.home_visit'"))
    at = next_local(weekday=2, hour=10)
    req = MatchRequest(type_id, household.community_id, household.lat, household.lng, at, at, 240)
    narrow = {c.provider_id for c in matching.eligible_providers(req, at)}
    wide = {c.provider_id for c in matching.eligible_providers(
        MatchRequest(**{**req.__dict__, "widen": True}), at)}
    assert narrow <= wide

