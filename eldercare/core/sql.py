"""SQL that differs by dialect, in one place."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from eldercare.extensions import db


def dialect_insert(model: type):  # noqa: ANN201 - a dialect's Insert, which both share the API of
    """INSERT with `on_conflict_do_nothing` / `returning` for the engine in use (PostgreSQL or SQLite)."""
    module = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return module.insert(model)


def insert_rows(table: sa.Table, columns: Sequence[str]):  # noqa: ANN201 - as dialect_insert
    """A multi-row INSERT of the given columns, executed with `rows_parameters(rows)`; finish it with
    `on_conflict_…` / `returning`, and build it once per call site (`functools.cache`): constructing and
    cache-keying the statement costs more CPU than running it.

    On PostgreSQL the rows travel as one JSON document, `INSERT … SELECT … FROM json_to_recordset(…)`: the
    statement text is the same whatever the number of rows, so it is compiled and parsed once (SQLAlchemy's
    multi-row VALUES writes a new statement of thousands of placeholders for every batch size, and psycopg
    parsed each again: half of the intake batch's CPU), and the whole batch is serialised by one call of the
    C JSON encoder (one array per column, the previous form, had psycopg dump every value in Python: a
    third of what was left). Strings are declared `text` in the record so that the column's own length
    check applies, as in a plain INSERT. On SQLite (embedded mode, small batches) it is a plain executemany.
    """
    if db.engine.dialect.name != "postgresql":
        return sqlite.insert(table)
    document = sa.cast(sa.bindparam(ROWS, type_=sa.Text), postgresql.JSON)
    record = [sa.column(name, sa.Text if isinstance(table.c[name].type, sa.String) else table.c[name].type)
              for name in columns]
    source = sa.func.json_to_recordset(document).table_valued(*record).render_derived(with_types=True)
    return postgresql.insert(table).from_select(list(columns), sa.select(*(source.c[name] for name in columns)))


ROWS = "rows"


def rows_parameters(columns: Sequence[str], rows: Sequence[Mapping[str, object]]) -> dict | list[dict]:
    """The parameters of an `insert_rows` statement for these rows (dicts with at least `columns`)."""
    if db.engine.dialect.name != "postgresql":
        return [{name: row[name] for name in columns} for row in rows]
    return {ROWS: json.dumps([{name: row[name] for name in columns} for row in rows], default=_json_value,
                             separators=(",", ":"), ensure_ascii=False)}


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")  # as UTCDateTime does
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


def among(column: sa.ColumnElement, name: str, dialect: str) -> sa.ColumnElement[bool]:
    """`column` is one of the list given as parameter `name`.

    On PostgreSQL `column = ANY(:name)` with the list as one array: one statement text whatever its length,
    which psycopg prepares once. An expanding `IN (…)` is a new text for every length (on SQLite, where
    arrays don't exist, it is what is left)."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


# --- pipelined transactions (PostgreSQL) ----------------------------------------------------------------
# A statement normally waits for its result before the next one is sent: one round trip each, and on a
# thread that shares its process with request threads, one more wait for the GIL each. Inside `pipelined`,
# statements marked `queued` are sent at once and their results (nothing anyone reads) are collected with
# the next statement that waits, or with the COMMIT; every other statement waits as usual, so what reads
# rows or row counts sees them. An error in a queued statement is raised by that next waiting statement,
# or the commit: the transaction fails as a whole, as it would have anyway.

_PIPELINE = "eldercare.pipeline"
Executable = TypeVar("Executable", bound=sa.Executable)


def queued(statement: Executable) -> Executable:
    """Mark a statement whose result nobody reads: inside `pipelined` it does not wait for the server."""
    return statement.execution_options(eldercare_queued=True)


@contextmanager
def pipelined(connection: sa.Connection) -> Iterator[None]:
    """Run the block's statements on `connection` in psycopg's pipeline mode (a no-op on SQLite)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    info = connection.info  # held: once the connection is invalidated (server gone) it can't be asked again
    with connection.connection.driver_connection.pipeline() as pipeline:
        info[_PIPELINE] = pipeline
        try:
            yield
        finally:
            info.pop(_PIPELINE, None)


@event.listens_for(Engine, "after_cursor_execute")
def _wait_unless_queued(conn: sa.Connection, cursor: object, statement: str, parameters: object,
                        context: object, executemany: bool) -> None:
    pipeline = conn.info.get(_PIPELINE)
    if pipeline is not None and not (context is not None and context.execution_options.get("eldercare_queued")):
        pipeline.sync()  # this statement's result, and those of the queued ones before it, are back
