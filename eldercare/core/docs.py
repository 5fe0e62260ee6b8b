"""`/api/docs` (Swagger UI from the `swagger-ui-bundle` package, served locally: no CDN) and the public
OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from flask import Blueprint, Flask, send_from_directory

from eldercare.core.auth import make_endpoint_public, public

bp = Blueprint("docs", __name__)
SWAGGER_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)


@bp.get("/api/docs/assets/<path:filename>")
@public
def swagger_asset(filename: str):  # noqa: ANN201 - Flask view
    return send_from_directory(SWAGGER_ASSETS, filename, max_age=86400)


def protect_spec_views(app: Flask) -> None:
    """The spec and its viewer describe the API, not its data: readable without logging in."""
    for endpoint in app.view_functions:
        if endpoint.startswith("api-docs.") or endpoint == "static":
            make_endpoint_public(app, endpoint)
