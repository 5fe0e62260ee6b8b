"""Builds the whole demo data set as plain rows, without a database: the loader only inserts them.

Primary keys are assigned here (1..n per table, in generation order) so that rows can refer to each other
before anything is inserted, and so that two builds are identical row for row.
"""

from __future__ import annotations

from dataclasses import dataclass

from eldercare.demo import accounts, catalog, city, firms, fleet, homes, teams
from eldercare.demo.context import SEED, Ctx, Row

# Insertion order: every table after the tables it refers to.
TABLE_ORDER = (
    "districts", "communities", "grid_cells", "service_categories", "service_types", "providers",
    "provider_service_types", "provider_coverage", "provider_hours", "provider_workers", "emergency_teams",
    "team_members", "households", "residents", "contacts", "device_models", "devices",
)


@dataclass(frozen=True)
class DemoData:
    tables: dict[str, list[Row]]  # by table name, in TABLE_ORDER
    users: list[Row]  # without password hashes

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()} | {"users": len(self.users)}


def generate_demo(seed: int = SEED) -> DemoData:
    """The same seed gives the same rows: the generators draw from one random source in a fixed order."""
    ctx = Ctx(seed)
    tables: dict[str, list[Row]] = {"districts": city.district_rows()}
    tables["communities"] = city.community_rows(ctx)
    tables["grid_cells"] = city.grid_cell_rows(ctx, tables["communities"])
    tables["service_categories"] = catalog.category_rows()
    tables["service_types"] = catalog.service_type_rows()
    tables.update(firms.provider_tables(ctx, tables["communities"], tables["service_types"]))
    tables.update(teams.team_tables(ctx))
    tables.update(homes.household_tables(ctx, tables["communities"], tables["grid_cells"]))
    tables["device_models"] = fleet.model_rows()
    tables["devices"] = fleet.device_rows(ctx, tables["households"], tables["residents"])
    return DemoData({name: tables[name] for name in TABLE_ORDER}, accounts.account_rows())
