"""SQL that differs by dialect, in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from eldercare.extensions import db


def dialect_insert(model: type):  # noqa: ANN201 - a dialect's Insert, which both share the API of
    """INSERT with `on_conflict_do_nothing` / `returning` for the engine in use (PostgreSQL or SQLite)."""
    module = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return module.insert(model)


def insert_rows(table: sa.Table, rows: Sequence[Mapping[str, object]]):  # noqa: ANN201 - as dialect_insert
    """A multi-row INSERT of `rows` (dicts with the same keys), to finish with `on_conflict_…`/`returning` and
    execute without parameters.

    On PostgreSQL the rows travel as one array per column, `INSERT … SELECT * FROM unnest(…)`: the statement
    text is the same whatever the number of rows, so it is compiled and parsed once. SQLAlchemy's
    multi-row VALUES ("insertmanyvalues") writes a new statement of thousands of placeholders for every
    batch size, and psycopg parsed each of them again: half of the intake batch's CPU. SQLite gets the
    VALUES list (embedded mode, small batches).
    """
    columns = list(rows[0])
    if db.engine.dialect.name != "postgresql":
        return sqlite.insert(table).values([dict(row) for row in rows])
    arrays = [sa.bindparam(f"rows_{name}", [row[name] for row in rows], type_=postgresql.ARRAY(table.c[name].type))
              for name in columns]
    source = sa.func.unnest(*arrays).table_valued(*columns).render_derived(with_types=False)
    return postgresql.insert(table).from_select(columns, sa.select(*(source.c[name] for name in columns)))
