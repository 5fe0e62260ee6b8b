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


def insert_rows(table: sa.Table, columns: Sequence[str]):  # noqa: ANN201 - as dialect_insert
    """A multi-row INSERT of the given columns, executed with `rows_parameters(rows)`; finish it with
    `on_conflict_…` / `returning`, and build it once per call site (`functools.cache`): constructing and
    cache-keying the statement costs more CPU than running it.

    On PostgreSQL the rows travel as one array per column, `INSERT … SELECT … FROM unnest(…)`: the statement
    text is the same whatever the number of rows, so it is compiled and parsed once. SQLAlchemy's
    multi-row VALUES ("insertmanyvalues") writes a new statement of thousands of placeholders for every
    batch size, and psycopg parsed each of them again: half of the intake batch's CPU. On SQLite (embedded
    mode, small batches) it is a plain executemany.
    """
    if db.engine.dialect.name != "postgresql":
        return sqlite.insert(table)
    arrays = [sa.bindparam(f"rows_{name}", type_=postgresql.ARRAY(table.c[name].type)) for name in columns]
    source = sa.func.unnest(*arrays).table_valued(*columns).render_derived(with_types=False)
    return postgresql.insert(table).from_select(list(columns), sa.select(*(source.c[name] for name in columns)))


def rows_parameters(columns: Sequence[str], rows: Sequence[Mapping[str, object]]) -> dict | list[dict]:
    """The parameters of an `insert_rows` statement for these rows (dicts with at least `columns`)."""
    if db.engine.dialect.name != "postgresql":
        return [{name: row[name] for name in columns} for row in rows]
    return {f"rows_{name}": [row[name] for row in rows] for name in columns}
