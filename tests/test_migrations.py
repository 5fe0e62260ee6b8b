"""One migration history builds the same schema on SQLite and PostgreSQL, and it matches the models."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from eldercare import create_app
from eldercare.extensions import db
from tests.conftest import TEST_DB, base_config, recreate_database

GENERIC = {
    "INTEGER": "int", "BIGINT": "int", "SMALLINT": "int", "VARCHAR": "str", "TEXT": "text", "BOOLEAN": "bool",
    "NUMERIC": "num", "FLOAT": "float", "DOUBLE PRECISION": "float", "REAL": "float", "DATETIME": "ts",
    "TIMESTAMP": "ts", "TIMESTAMP WITH TIME ZONE": "ts", "DATE": "date", "TIME": "time",
    "TIME WITHOUT TIME ZONE": "time", "JSON": "json",
}


def _generic(column_type: sa.types.TypeEngine) -> str:
    name = column_type.compile(dialect=sa.dialects.postgresql.dialect()).split("(")[0].upper()
    return GENERIC.get(name, name)


def describe(engine: sa.Engine) -> dict:
    inspector = sa.inspect(engine)
    schema = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        schema[table] = {
            "columns": {c["name"]: (_generic(c["type"]), c["nullable"]) for c in inspector.get_columns(table)},
            "pk": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
            "fks": sorted((tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                          for fk in inspector.get_foreign_keys(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table) if not i.get("duplicates_constraint")),
            "checks": sorted(c["name"] for c in inspector.get_check_constraints(table)),
        }
    return schema


def _migrated(url: str):
    app = create_app(base_config(url))
    with app.app_context():
        upgrade()
        engine = db.engine
        yield app, engine
        db.session.remove()
        engine.dispose()


@pytest.fixture
def sqlite_app(tmp_path):
    yield from _migrated(f"sqlite:///{tmp_path / 'schema.db'}")


@pytest.fixture
def postgres_app():
    url = recreate_database(f"{TEST_DB}_schema")  # per engineer, like TEST_DB: parallel runs never collide
    yield from _migrated(url)


def test_same_schema_on_sqlite_and_postgresql(sqlite_app, postgres_app):
    lite, pg = describe(sqlite_app[1]), describe(postgres_app[1])
    assert len(pg) >= 29
    assert set(lite) == set(pg)
    for table in pg:
        assert lite[table] == pg[table], table


@pytest.mark.parametrize("backend", ["sqlite_app", "postgres_app"])
def test_migrations_match_the_models(request, backend):
    _app, engine = request.getfixturevalue(backend)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_downgrade_to_base_and_back(sqlite_app):
    _app, engine = sqlite_app
    downgrade(revision="base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    upgrade()
    assert "incidents" in sa.inspect(engine).get_table_names()
