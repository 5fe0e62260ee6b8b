"""`GET /healthz`: 200 when the database (and broker, in production) answer; 503 naming what failed."""

from __future__ import annotations

import logging

import redis
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from eldercare.core.auth import public
from eldercare.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


def _database_ok() -> bool:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return True
    except SQLAlchemyError:
        log.warning("health: database unreachable", exc_info=True)
        db.session.rollback()
        return False


def _broker_state() -> str:
    url = current_app.config["REDIS_URL"]
    if url is None:
        return "embedded"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except (redis.RedisError, OSError):
        log.warning("health: broker unreachable", exc_info=True)
        return "unreachable"


@bp.get("/healthz")
@public
def healthz():  # noqa: ANN201 - Flask view
    database = "ok" if _database_ok() else "unreachable"
    broker = _broker_state()
    healthy = database == "ok" and broker in ("ok", "embedded")
    body = {"status": "ok" if healthy else "unavailable", "database": database, "broker": broker}
    return jsonify(body), 200 if healthy else 503
