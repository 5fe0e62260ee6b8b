"""Test fixtures: real PostgreSQL and Redis.

- `migrated_db` (session): a fresh PostgreSQL database built by the migrations and loaded with the demo
  data, committed once. Processes started by end-to-end tests (web server, Celery worker) use it too.
- `app` (session): the application on that database, embedded mode, Celery eager for unit tests.
- `db_session` (function, autouse where requested): the test runs inside a transaction that is rolled
  back; the code under test commits savepoints, so it behaves as in production.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

pytest_plugins = ("tests.live",)

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_DB = os.environ.get("TEST_PG_DB", "eldercare_test")
TEST_DATABASE_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{TEST_DB}"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
DEMO_PASSWORD = "demo-test-pw"


def recreate_database(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def base_config(database_url: str, **extra: object) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "ELDERCARE_DEMO_PASSWORD": DEMO_PASSWORD,
        "RATELIMIT_STORAGE_URI": "memory://",
        "CELERY": {"task_always_eager": True, "task_eager_propagates": True},
        **extra,
    }


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("instance")
    os.environ["ELDERCARE_INSTANCE_PATH"] = str(path)
    return str(path)


@pytest.fixture(scope="session")
def migrated_db(instance_dir: str) -> str:
    """Build the test database with the migrations (not create_all) and load the demo data."""
    from flask_migrate import upgrade

    from eldercare import create_app
    from eldercare.demo import load_demo
    from eldercare.extensions import db

    url = recreate_database(TEST_DB)
    app = create_app(base_config(url))
    with app.app_context():
        upgrade()
        load_demo()
        db.session.remove()
        db.engine.dispose()
    return url


@pytest.fixture(scope="session")
def app(migrated_db: str):
    from eldercare import create_app
    from eldercare.extensions import db

    application = create_app(base_config(migrated_db))
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def db_session(app) -> Iterator[sa.orm.scoped_session]:
    """Everything the test (and the code under test) writes is rolled back afterwards."""
    from eldercare.extensions import db, limiter

    # Any create_app() makes its Celery the process's current one; tests that send tasks use this app's.
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()
    with app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        original_session = db.session
        engines[None] = connection  # Flask-SQLAlchemy's get_bind returns the connection for every model
        db.session = db._make_scoped_session({"join_transaction_mode": "create_savepoint",
                                              "expire_on_commit": False})
        limiter.reset()
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original_session
            engines[None] = engine
            outer.rollback()
            connection.close()


class NoCountdown:
    """Stands in for the timers' countdown accelerator: tests that use `emitted` fire timers themselves."""

    @staticmethod
    def apply_async(*args: object, **kwargs: object) -> None:
        return None


@pytest.fixture
def emitted(monkeypatch, db_session) -> list[tuple[str, dict, str | None]]:
    """Socket.IO events as they would be emitted after commit: (name, payload, room)."""
    from eldercare.core import events, timers

    sent: list[tuple[str, dict, str | None]] = []
    monkeypatch.setattr(events, "emit_now", lambda name, data, *, namespace, room: sent.append((name, data, room)))
    monkeypatch.setattr(timers, "fire_timer", NoCountdown)
    return sent


class RequestScopedClient(FlaskClient):
    """Each request gets its own app context, hence its own `g` and session, as in production; without
    this, requests would reuse the app context that `db_session` keeps open for the test."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app, db_session):
    return RequestScopedClient(app, app.response_class, use_cookies=True)


def token_for(client, username: str, password: str = DEMO_PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.fixture
def auth_headers(client):
    def headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(client, username)}"}

    return headers


@pytest.fixture
def ops(auth_headers):
    """Bearer headers by username, each token fetched once per test."""
    cache: dict[str, dict] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in cache:
            cache[username] = auth_headers(username)
        return cache[username]

    return headers


def redis_flush(url: str = TEST_REDIS_URL) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def git_root() -> str:
    return subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()
