"""Flask CLI commands: `flask demo load`, `flask serve`, `flask receivers`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

demo_cli = AppGroup("demo", help="Demo data at the city's scale.")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has districts.")
def load_demo_command(if_empty: bool) -> None:
    """Load the deterministic demo data (9 districts, 289 communities, 5,000+ residents, ...)."""
    from eldercare.demo import database_is_empty, load_demo

    if if_empty and not database_is_empty():
        click.echo("Demo data: database not empty, nothing loaded.")
        return
    counts = load_demo(progress=True)
    click.echo("Demo data loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


@click.command("receivers")
@with_appcontext
def receivers_command() -> None:
    """Run the device receivers (SIA DC-09 on TCP+UDP, watch protocol on TCP) until SIGINT/SIGTERM."""
    from eldercare.core.runtime import calm_garbage_collector
    from eldercare.devices.receivers.runner import ReceiverRunner

    runner = ReceiverRunner(current_app._get_current_object())
    calm_garbage_collector()
    runner.run()
    if runner.error is not None:
        raise click.ClickException(f"receivers could not start: {runner.error}")


def register(app: Flask) -> None:
    from eldercare.core.serve import serve_command

    app.cli.add_command(demo_cli)
    app.cli.add_command(serve_command)
    app.cli.add_command(receivers_command)
