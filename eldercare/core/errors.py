"""One error format for every failure: `{"error": {"code", "message", "fields"}}` with a 4xx status.

HTML console pages get the same information as a page. Nothing a client sends may produce a 5xx: an
unexpected exception is logged with its trace and answered 500 without internals, and the tests hunt
for any path that reaches it.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or {}
        self.headers = headers or {}


def conflict(message: str, **fields: object) -> ApiError:
    return ApiError(409, "conflict", message, fields)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found.")


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/healthz", "/twilio/")) or request.authorization:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None) -> Response:
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    else:
        response = Response(render_template("error.html", status=status, message=message), mimetype="text/html")
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _validation_fields(exc: HTTPException) -> dict:
    """webargs puts field errors under their location ({"json": {"uid": [...]}}); callers want the fields."""
    messages = getattr(exc, "data", {}).get("messages") or {}
    fields: dict = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            fields.update(location_errors)
        else:
            fields.setdefault("_body", location_errors)
    return fields


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    fields = _validation_fields(exc)
    message = "Invalid input." if fields else (exc.description or exc.name)
    headers = dict(getattr(exc, "data", {}).get("headers") or {})
    if exc.response is not None and "Retry-After" in exc.response.headers:
        headers["Retry-After"] = exc.response.headers["Retry-After"]
    if status >= 500:
        log.error("HTTP %s on %s %s", status, request.method, request.path)
    return error_response(status, _CODES.get(status, "error"), message, fields, headers)


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Internal error; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
