"""`POST /bench/bare`: the baseline of the ingest benchmark (bench/http_ingest.py).

Registered only when `ELDERCARE_BENCH_ROUTES=1`: it parses the same JSON as `/api/v1/device-events` and
answers 202 without authentication or storage, so the ratio between the two is the cost of durability.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from eldercare.core.auth import public

bp = Blueprint("bench", __name__)


@bp.post("/bench/bare")
@public
def bare():  # noqa: ANN201 - Flask view
    body = request.get_json(silent=True) or {}
    return jsonify({"event_id": body.get("event_id"), "duplicate": False, "incident_id": None}), 202
