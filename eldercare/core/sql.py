"""SQL that differs by dialect, in one place."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from eldercare.extensions import db


def dialect_insert(model: type):  # noqa: ANN201 - a dialect's Insert, which both share the API of
    """INSERT with `on_conflict_do_nothing` / `returning` for the engine in use (PostgreSQL or SQLite)."""
    module = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return module.insert(model)
