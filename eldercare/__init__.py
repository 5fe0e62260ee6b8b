"""eldercare: the dispatch platform of a city's elderly home-care service centre."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import load_settings
from config.settings import PROJECT_ROOT, engine_options

SOCKETIO_CHANNEL = "eldercare-socketio"  # the Redis channel every process's Socket.IO events travel on


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application. `config` overrides settings read from the environment (tests use it)."""
    settings = load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=True)
    app.config.update(settings.flask_config())
    app.config.update(
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in core.auth for cookie-authenticated writes only
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead: consoles stay open all shift
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES=str(PROJECT_ROOT / "eldercare" / "translations"),
        API_TITLE="eldercare",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/assets/",
        SOCKETIO_ASYNC_MODE="threading",
    )
    if config:
        app.config.update(config)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))
    _configure_logging(app)
    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _init_extensions(app: Flask) -> None:
    from eldercare import models  # noqa: F401 - every table registered before migrations look
    from eldercare.core import auth, errors, i18n, message_queue, sockets
    from eldercare.core.tasks import make_celery
    from eldercare.extensions import babel, csrf, db, limiter, login_manager, migrate, socketio

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    sockets.register_namespaces()
    queue = {}
    manager = message_queue.client_manager(app.config["REDIS_URL"], SOCKETIO_CHANNEL)
    if manager is not None:  # ours publishes a batch's events in one round trip (core.message_queue)
        queue["client_manager"] = manager
    socketio.init_app(app, message_queue=app.config["REDIS_URL"], async_mode=app.config["SOCKETIO_ASYNC_MODE"],
                      channel=SOCKETIO_CHANNEL, manage_session=False, **queue)
    make_celery(app)
    errors.init_app(app)
    auth.init_app(app)
    i18n.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from eldercare.alerts import api as alerts_api
    from eldercare.alerts import notify_api, outbox_views, supervisor_api, team_api, webhooks
    from eldercare.alerts import views as alerts_views
    from eldercare.catalog import api as catalog_api
    from eldercare.core import api as core_api
    from eldercare.core import docs, health
    from eldercare.core import views as core_views
    from eldercare.core.rest import EldercareApi
    from eldercare.devices import api as devices_api
    from eldercare.devices import views as devices_views
    from eldercare.dispatch import api as dispatch_api
    from eldercare.dispatch import callbacks_api, jobs_api, planning_api, recurring_api
    from eldercare.dispatch import views as dispatch_views
    from eldercare.geo import api as geo_api
    from eldercare.households import api as households_api
    from eldercare.providers import api as providers_api
    from eldercare.providers import changes_api, changes_views
    from eldercare.providers import views as providers_views
    from eldercare.reports import api as reports_api

    api = EldercareApi(app, spec_kwargs={"info": {"description": "eldercare platform API (CONTRACT.md)."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blp in (core_api.blp, geo_api.blp, catalog_api.blp, households_api.blp, providers_api.blp,
                alerts_api.blp, devices_api.blp, reports_api.blp, team_api.blp, notify_api.blp,
                supervisor_api.blp, recurring_api.blp, planning_api.blp,
                dispatch_api.blp, jobs_api.blp, callbacks_api.blp,
                changes_api.blp):
        api.register_blueprint(blp, url_prefix="/api/v1")
    app.extensions["eldercare_api"] = api
    for blueprint in (health.bp, docs.bp, core_views.bp, alerts_views.bp, providers_views.bp, webhooks.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(devices_views.bp)
    app.register_blueprint(outbox_views.bp)
    app.register_blueprint(dispatch_views.bp)
    app.register_blueprint(changes_views.bp)
    if app.config.get("ELDERCARE_BENCH_ROUTES"):
        from eldercare.core import bench

        app.register_blueprint(bench.bp)
    docs.protect_spec_views(app)


def _register_cli(app: Flask) -> None:
    from eldercare.core.cli import register

    register(app)
