"""The settings module: contract defaults, fail-fast on bad values, a persistent generated secret."""

from __future__ import annotations

import pytest

from config import SettingsError, load_settings


def test_embedded_defaults(tmp_path):
    settings = load_settings({}, instance_path=tmp_path)
    assert settings.embedded
    assert settings.database_url == f"sqlite:///{tmp_path / 'eldercare.db'}"
    assert (settings.http_port, settings.dc09_port, settings.watch_port) == (5000, 7001, 7002)
    assert settings.bind == "127.0.0.1"
    assert settings.public_url == "http://127.0.0.1:5000"
    assert settings.demo_password == "demo"
    assert not settings.twilio_enabled
    config = settings.flask_config()
    assert config["CELERY_BROKER_URL"] == f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_generated_secret_survives_restart(tmp_path):
    first = load_settings({}, instance_path=tmp_path).secret_key
    assert len(first) == 64
    assert load_settings({}, instance_path=tmp_path).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert load_settings({"SECRET_KEY": "from-env"}, instance_path=tmp_path).secret_key == "from-env"


def test_production_mode(tmp_path):
    settings = load_settings({"DATABASE_URL": "postgresql://u@db/eldercare", "REDIS_URL": "redis://r:6379/0",
                              "TWILIO_AUTH_TOKEN": "t", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_FROM_NUMBER": "+1"},
                             instance_path=tmp_path)
    assert not settings.embedded
    assert settings.database_url == "postgresql+psycopg://u@db/eldercare"
    assert settings.flask_config()["CELERY_BROKER_URL"] == "redis://r:6379/0"
    assert settings.flask_config()["RATELIMIT_STORAGE_URI"] == "redis://r:6379/0"
    assert settings.twilio_enabled


@pytest.mark.parametrize(("name", "value"), [
    ("ELDERCARE_HTTP_PORT", "http"), ("ELDERCARE_HTTP_PORT", "0"), ("ELDERCARE_DC09_PORT", "70000"),
    ("ELDERCARE_WATCH_PORT", "-1"), ("DATABASE_URL", "mysql://x/y"), ("REDIS_URL", "http://x"),
    ("ELDERCARE_PUBLIC_URL", "ftp://x"), ("ELDERCARE_TOKEN_TTL_S", "soon"),
])
def test_bad_values_fail_fast_naming_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value}, instance_path=tmp_path)


def test_public_url_trailing_slash_is_dropped(tmp_path):
    settings = load_settings({"ELDERCARE_PUBLIC_URL": "https://care.example.cn/"}, instance_path=tmp_path)
    assert settings.public_url == "https://care.example.cn"
