"""Database base classes, column types and the after-commit hook.

`on_commit(fn)` is how every side effect leaves a transaction: Celery tasks are enqueued and Socket.IO
events emitted only once the rows they refer to are committed. A rollback drops them, so a worker never
looks for a row that does not exist and a console never shows a change that did not happen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    SessionTransaction,
    mapped_column,
    registry,
    scoped_session,
)

from eldercare.core.time import utcnow

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator):
    """Aware UTC in Python; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def enum_column(*values: str, name: str) -> sa.Enum:
    """A portable enumeration: VARCHAR plus a CHECK constraint, identical on SQLite and PostgreSQL."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


# --- after-commit hooks -----------------------------------------------------------------------------

_PENDING = "eldercare.on_commit"


def on_commit(session: Session | scoped_session, fn: Callable[[], object]) -> None:
    """Run `fn` after the session's outermost transaction commits. Forget it if that transaction rolls back,
    or if the savepoint it was registered in does (a failed timer handler must announce nothing)."""
    if isinstance(session, scoped_session):
        session = session()  # `db.session` is the usual caller's handle
    if not session.in_transaction():
        session.begin()  # the hook belongs to this transaction even before its first query
    session.info.setdefault(_PENDING, []).append((session.get_nested_transaction(), fn))


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # SQLAlchemy calls this on a savepoint's release too; the hooks wait for the real commit
    for _savepoint, fn in session.info.pop(_PENDING, []):
        try:
            fn()
        except Exception:
            log.exception("after-commit hook %r failed", fn)


@event.listens_for(Session, "after_soft_rollback")
def _drop_savepoint_hooks(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested:
        pending = session.info.get(_PENDING, [])
        session.info[_PENDING] = [(sp, fn) for sp, fn in pending if not _inside(sp, previous_transaction)]


@event.listens_for(Session, "after_transaction_end")
def _drop_unrun_hooks(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the hooks have run; after a rollback (or a close) of the outermost transaction
    # whatever is left announces work that never happened.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _inside(savepoint: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is ancestor:
            return True
        savepoint = savepoint.parent
    return False


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
