"""Chinese by default, English on request: `?lang=en` (remembered in the session), then the account's
language, then zh. Templates get `current_lang` and the list of languages for the switch."""

from __future__ import annotations

from flask import Flask, g, request, session
from flask_babel import get_locale

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT = "zh"


def select_locale() -> str:
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted
        return wanted
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    user = g.get("user")
    if user is not None and getattr(user, "language", None) in LANGUAGES:
        return user.language
    return DEFAULT


def init_app(app: Flask) -> None:
    @app.context_processor
    def _languages() -> dict:
        return {"languages": LANGUAGES, "current_lang": str(get_locale() or DEFAULT)}

    @app.after_request
    def _content_language(response):  # noqa: ANN001, ANN202 - Flask hook signature
        if response.mimetype == "text/html":
            response.headers["Content-Language"] = "zh-CN" if str(get_locale()) == "zh" else "en"
        return response
