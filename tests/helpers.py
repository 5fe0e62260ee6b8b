"""Small helpers shared by tests."""

from __future__ import annotations

import re

from tests.conftest import DEMO_PASSWORD

CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_META.search(html) or CSRF_INPUT.search(html)
    assert match, "no CSRF token on the page"
    return next(group for group in match.groups() if group)


def login_session(client, username: str, password: str = DEMO_PASSWORD) -> str:
    """Log the test client in through the login form; returns a CSRF token for later writes."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return csrf_from(client.get("/login").get_data(as_text=True))


def error_of(response) -> dict:
    body = response.get_json()
    assert isinstance(body, dict) and "error" in body, response.get_data(as_text=True)[:300]
    assert set(body["error"]) >= {"code", "message", "fields"}
    return body["error"]
