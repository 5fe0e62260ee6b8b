"""`flask serve` (what `make run` runs): migrate, load demo data if empty, then serve everything.

Embedded mode: gunicorn (one worker process, threads for WebSockets) hosting the web app and Socket.IO,
and inside that worker the Celery worker and beat and the device receivers (DC-09, watch) as threads.
Production mode (REDIS_URL set): the same web server; Celery workers, beat and the device receivers run
as their own processes (Procfile).
Ctrl-C stops the gunicorn master, which stops its worker: no process is left behind.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from eldercare import create_app

        app = create_app()
        if app.config["ELDERCARE_EMBEDDED"]:
            from eldercare.core.embedded import EmbeddedWorker

            worker = EmbeddedWorker(app.extensions["celery"])
            worker.start()
            app.extensions["embedded_worker"] = worker
            from eldercare.devices.receivers.runner import ReceiverRunner

            app.extensions["receivers"] = ReceiverRunner(app).start_in_thread()
        from eldercare.core.runtime import calm_garbage_collector

        calm_garbage_collector()
        return app


@click.command("serve")
@click.option("--no-demo", is_flag=True, help="Do not load the demo data into an empty database.")
@with_appcontext
def serve_command(no_demo: bool) -> None:
    """Migrate the database, load demo data when empty, and serve the platform until Ctrl-C."""
    from flask_migrate import upgrade

    from eldercare.demo import database_is_empty, load_demo

    config = current_app.config
    upgrade()
    if not no_demo and database_is_empty():
        click.echo("Empty database: loading the demo data …")
        load_demo(progress=True)
    bind = f"{config['ELDERCARE_BIND']}:{config['ELDERCARE_HTTP_PORT']}"
    mode = "embedded (SQLite broker, in-process worker)" if config["ELDERCARE_EMBEDDED"] else "production (Redis)"
    click.echo(f"eldercare on http://{bind}/  — mode: {mode}")
    click.echo(f"Log in at http://{bind}/login as admin, supervisor1, operator1, provider1 or team1 "
               f"(password: ELDERCARE_DEMO_PASSWORD, default 'demo'). Ctrl-C stops everything.")
    _Gunicorn({
        "bind": bind, "workers": 1, "worker_class": "gthread", "threads": 64, "timeout": 120,
        "graceful_timeout": 5, "accesslog": "-", "control_socket_disable": True,
    }).run()
