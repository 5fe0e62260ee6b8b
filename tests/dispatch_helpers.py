"""Shared by the dispatch tests: a time the demo's companies are open, orders placed through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from eldercare.core.time import CITY_TZ, utcnow


def next_local(weekday: int = 2, hour: int = 10) -> datetime:
    """The next given weekday (0 = Monday) at `hour` centre time, at least a day ahead: most companies are open."""
    local = utcnow().astimezone(CITY_TZ)
    days = (weekday - local.weekday()) % 7 or 7
    return (local + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)


def busy_household(session, service_type: str = "care.home_visit", at_least: int = 4) -> int:
    """A demo household whose community has at least `at_least` active companies offering the type."""
    from eldercare.catalog.models import ServiceType
    from eldercare.households.models import Household
    from eldercare.providers.models import Provider, provider_coverage, provider_service_types

    type_id = session.scalar(sa.select(ServiceType.id).where(ServiceType.code == service_type))
    counts = (sa.select(provider_coverage.c.community_id, sa.func.count().label("n"))
              .join(Provider, Provider.id == provider_coverage.c.provider_id)
              .join(provider_service_types, provider_service_types.c.provider_id == Provider.id)
              .where(provider_service_types.c.service_type_id == type_id, Provider.status == "active")
              .group_by(provider_coverage.c.community_id).subquery())
    return session.scalar(sa.select(Household.id).join(counts, counts.c.community_id == Household.community_id)
                          .where(counts.c.n >= at_least, Household.active.is_(True))
                          .order_by(counts.c.n.desc(), Household.id.desc()).limit(1))


def place(client, headers, household_id: int, service_type: str = "care.home_visit", **extra):
    body = {"household_id": household_id, "service_type": service_type,
            "scheduled_for": next_local().isoformat(), **extra}
    return client.post("/api/v1/orders", json=body, headers=headers)


def staff_of(session, provider_id: int, username: str | None = None):
    """A provider_staff user of the company (created in the test's transaction)."""
    from eldercare.core.models import User

    name = username or f"staff{provider_id}"
    user = session.scalar(sa.select(User).where(User.username == name))
    if user is None:
        user = User(username=name, role="provider_staff", provider_id=provider_id, display_name=name)
        user.set_password("irrelevant-pw")
        session.add(user)
        session.commit()
    return user


def bearer(user) -> dict[str, str]:
    from eldercare.core.auth import issue_token

    return {"Authorization": f"Bearer {issue_token(user)[0]}"}
