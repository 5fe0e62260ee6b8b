"""`/healthz`: 200 when its parts answer; 503 naming the part that does not."""

from __future__ import annotations

from eldercare import create_app
from eldercare.extensions import db
from tests.conftest import TEST_REDIS_URL, base_config
from tests.live import free_port


def _health(config: dict) -> tuple[int, dict]:
    app = create_app(config)
    try:
        response = app.test_client().get("/healthz")
        return response.status_code, response.get_json()
    finally:
        with app.app_context():
            db.engine.dispose()


# The broker cases change only the URL the probe reads: building a second app with REDIS_URL would
# re-bind the process-wide Socket.IO server to a Redis queue under the other tests' feet.
def test_production_mode_reports_the_broker(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", TEST_REDIS_URL)
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok", "database": "ok", "broker": "ok"})


def test_broker_down_is_503(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "broker": "unreachable"}


def test_database_down_is_503():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    status, body = _health(base_config(url, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}}))
    assert status == 503
    assert body["database"] == "unreachable"
    assert body["broker"] == "embedded"
