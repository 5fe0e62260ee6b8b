"""Inserts the generated demo data into the app's database: bulk inserts with the generator's keys.

This is a CLI edge (`flask demo load`, `make run` on an empty database), so it commits once at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import click
import sqlalchemy as sa
from flask import current_app

from eldercare.catalog.models import ServiceCategory, ServiceType
from eldercare.core.models import User
from eldercare.demo.context import REFERENCE_TIME, Row
from eldercare.demo.generate import DemoData, generate_demo
from eldercare.devices.models import Device, DeviceModel
from eldercare.extensions import db
from eldercare.geo.models import Community, District, GridCell
from eldercare.households.models import Contact, Household, Resident
from eldercare.providers.models import (
    EmergencyTeam,
    Provider,
    ProviderHours,
    ProviderWorker,
    TeamMember,
    provider_coverage,
    provider_service_types,
)

TARGETS: dict[str, Any] = {
    "districts": District, "communities": Community, "grid_cells": GridCell,
    "service_categories": ServiceCategory, "service_types": ServiceType, "providers": Provider,
    "provider_service_types": provider_service_types, "provider_coverage": provider_coverage,
    "provider_hours": ProviderHours, "provider_workers": ProviderWorker, "emergency_teams": EmergencyTeam,
    "team_members": TeamMember, "households": Household, "residents": Resident, "contacts": Contact,
    "device_models": DeviceModel, "devices": Device,
}
CHUNK = 5000  # rows per INSERT batch: small enough for a lively progress bar, large enough to be fast


class DemoDataError(click.ClickException):
    """The database already holds rows the demo data would collide with (the CLI prints it as an error)."""


class _Bar(Protocol):
    def update(self, n_steps: int) -> None: ...


def database_is_empty() -> bool:
    return db.session.execute(sa.select(District.id).limit(1)).first() is None


def load_demo(progress: bool = False) -> dict[str, int]:
    """Insert the whole demo data set, commit, and return the number of rows per table."""
    _require_empty_tables()
    data = generate_demo()
    total = sum(len(rows) for rows in data.tables.values()) + len(data.users)
    with _progressbar(progress, total) as bar:
        _insert_tables(data, bar)
        _insert_users(data.users, current_app.config["ELDERCARE_DEMO_PASSWORD"])
        bar.update(len(data.users))
    _advance_sequences()
    db.session.commit()
    return data.counts()


def _require_empty_tables() -> None:
    # The demo rows carry their own primary keys: loading over existing rows would collide half-way.
    for name, target in [*TARGETS.items(), ("users", User)]:
        table = _table(target)
        if db.session.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None:
            raise DemoDataError(f"table {name} is not empty: demo data is only loaded into an empty database")


@contextlib.contextmanager
def _progressbar(progress: bool, total: int) -> Iterator[_Bar]:
    if not progress:
        yield _NoBar()
        return
    with click.progressbar(length=total, label="Loading demo data") as bar:
        yield bar


class _NoBar:
    def update(self, n_steps: int) -> None:
        pass


def _insert_tables(data: DemoData, bar: _Bar) -> None:
    for name, rows in data.tables.items():
        statement = _insert_statement(TARGETS[name])
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            db.session.execute(statement, chunk)
            bar.update(len(chunk))


def _insert_statement(target: Any) -> sa.Insert:
    if isinstance(target, sa.Table):
        return sa.insert(target)
    # Keep NULLs in the statement: otherwise the ORM splits the batch by which columns happen to be None.
    return sa.insert(target).execution_options(render_nulls=True)


def _insert_users(specs: list[Row], password: str) -> None:
    # Objects rather than a bulk insert: only a handful, and set_password owns the hashing scheme.
    for spec in specs:
        user = User(**spec, active=True, token_version=1, created_at=REFERENCE_TIME, updated_at=REFERENCE_TIME)
        user.set_password(password)
        db.session.add(user)
    db.session.flush()


def _advance_sequences() -> None:
    """PostgreSQL: move each id sequence past the ids inserted explicitly, or the next insert collides."""
    if db.session.get_bind().dialect.name != "postgresql":
        return  # SQLite picks max(id) + 1 by itself
    for target in [*TARGETS.values(), User]:
        table = _table(target)
        if "id" not in table.c:
            continue  # association tables have no sequence
        sequence = sa.func.pg_get_serial_sequence(table.name, "id")
        highest = sa.select(sa.func.max(table.c.id)).scalar_subquery()
        db.session.execute(sa.select(sa.func.setval(sequence, highest)))


def _table(target: Any) -> sa.Table:
    return target if isinstance(target, sa.Table) else target.__table__
