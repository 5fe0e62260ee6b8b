"""Console pages through the Flask test client: login, language, redirects, role homes, static assets."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from eldercare.core.models import AuditEvent, User
from tests.conftest import DEMO_PASSWORD
from tests.helpers import csrf_from, login_session

ROOT = Path(__file__).resolve().parent.parent
HOMES = {"operator1": "/ops/", "supervisor1": "/ops/", "admin": "/ops/", "provider1": "/provider/",
         "team1": "/provider/"}


def post_login(client, username: str, password: str = DEMO_PASSWORD, query: str = "", **extra: str):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post(f"/login{query}", data={"username": username, "password": password, "csrf_token": token,
                                               **extra})


def page(response) -> str:
    return response.get_data(as_text=True)


# --- language ---------------------------------------------------------------------------------------

def test_login_page_is_chinese_by_default(client):
    response = client.get("/login")
    html = page(response)
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "zh-CN"
    assert '<html lang="zh-CN">' in html
    assert "<h1>登录</h1>" in html
    assert "为老服务信息中心" in html and "用户名" in html and "密码" in html
    assert 'id="username"' in html and "autofocus" in html
    assert 'data-lang="en"' in html  # the switch to English is on the page


def test_lang_en_switches_and_is_remembered(client):
    html = page(client.get("/login?lang=en"))
    assert '<html lang="en">' in html
    assert "<h1>Log in</h1>" in html and "Username" in html
    assert '<html lang="en">' in page(client.get("/login"))  # kept in the session
    assert '<html lang="zh-CN">' in page(client.get("/login?lang=zh"))
    assert '<html lang="zh-CN">' in page(client.get("/login"))


def test_unknown_language_falls_back_to_chinese(client):
    assert '<html lang="zh-CN">' in page(client.get("/login?lang=xx"))


def test_language_switch_keeps_the_next_target(client):
    html = page(client.get("/login?next=/ops/"))
    assert 'href="/login?next=%2Fops%2F&amp;lang=en"' in html


# --- logging in -------------------------------------------------------------------------------------

def test_wrong_password_is_401_and_audited(client, db_session):
    response = post_login(client, "operator1", "not-the-password")
    assert response.status_code == 401
    assert "用户名或密码错误" in page(response)
    assert 'value="operator1"' in page(response)  # the username stays, the focus moves to the password
    failures = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.login_failed",
                                                              AuditEvent.actor_label == "operator1")).all()
    assert len(failures) == 1
    assert failures[0].detail["reason"] == "bad_password"


def test_wrong_password_in_english(client):
    client.get("/login?lang=en")
    response = post_login(client, "nobody-by-this-name", "whatever")
    assert response.status_code == 401
    assert "Wrong username or password." in page(response)


@pytest.mark.parametrize(("username", "home"), HOMES.items())
def test_login_redirects_to_the_home_of_the_role(client, username, home):
    response = post_login(client, username)
    assert response.status_code == 302
    assert response.headers["Location"] == home
    assert client.get(home).status_code == 200


def test_login_audits_success(client, db_session):
    user_id = db_session.scalar(sa.select(User.id).where(User.username == "supervisor1"))
    logins = sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.login",
                                                                     AuditEvent.actor_id == user_id)
    before = db_session.scalar(logins)  # live-server tests commit logins of their own
    post_login(client, "supervisor1")
    assert db_session.scalar(logins) == before + 1


def test_csrf_is_enabled_in_the_test_app(app):
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


def test_login_without_csrf_token_is_400(client):
    response = client.post("/login", data={"username": "operator1", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "登录页面已过期" in page(response)
    assert client.get("/ops/").status_code == 302  # not logged in


def test_login_with_forged_csrf_token_is_400(client):
    client.get("/login")
    response = client.post("/login", data={"username": "operator1", "password": DEMO_PASSWORD,
                                           "csrf_token": "forged"})
    assert response.status_code == 400


def test_login_with_empty_fields_is_400(client):
    response = post_login(client, "", "")
    assert response.status_code == 400
    assert "请输入用户名和密码" in page(response)


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example",
                                    "https:/evil.example", "javascript:alert(1)", "evil.example", "/\t/evil.example"])
def test_next_to_another_site_is_ignored(client, target):
    response = post_login(client, "operator1", query="?" + _query(next=target))
    assert response.status_code == 302
    assert response.headers["Location"] == "/ops/"


def test_next_on_this_site_is_followed(client):
    response = post_login(client, "operator1", query="?" + _query(next="/ops/?lang=en"))
    assert response.headers["Location"] == "/ops/?lang=en"


def _query(**args: str) -> str:
    from urllib.parse import urlencode

    return urlencode(args)


def test_logout_ends_the_session_and_says_so(client):
    csrf = login_session(client, "operator1")
    response = client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "您已安全退出" in page(client.get("/login"))
    assert client.get("/ops/").status_code == 302


def test_logout_needs_csrf(client):
    login_session(client, "operator1")
    assert client.post("/logout").status_code == 400
    assert client.get("/ops/").status_code == 200


# --- who may open which console -----------------------------------------------------------------------

def test_ops_home_anonymous_redirects_to_login(client):
    response = client.get("/ops/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/ops/")


def test_ops_home_is_forbidden_to_provider_staff(client):
    login_session(client, "provider1")
    response = client.get("/ops/")
    assert response.status_code == 403
    assert "您没有访问此页面的权限" in page(response)


def test_provider_home_is_forbidden_to_operators(client):
    login_session(client, "operator1")
    assert client.get("/provider/").status_code == 403


def test_root_redirects_by_role(client):
    login_session(client, "team1")
    assert client.get("/").headers["Location"] == "/provider/"


# --- the consoles -------------------------------------------------------------------------------------

def test_ops_home_for_an_operator(client):
    login_session(client, "operator1")
    html = page(client.get("/ops/"))
    assert "<title>话务员控制台 · 为老服务信息中心</title>" in html
    assert 'id="page-title">话务员控制台</h1>' in html
    assert 'id="current-user"' in html and '>话务员</span>' in html and "退出登录" in html
    assert 'id="conn"' in html and 'data-state="connecting"' in html
    assert 'data-count-url="/api/v1/districts?per_page=1"' in html
    assert 'id="notices"' in html
    assert 'id="notice-form"' not in html  # only supervisors and admins send notices
    config = re.search(r'<script type="application/json" id="console-config">(.*?)</script>', html, re.S)
    assert config is not None
    settings = json.loads(config.group(1))
    assert settings["namespace"] == "/ops"
    assert settings["strings"]["connected"] == "已连接"
    assert '<meta name="csrf-token"' in html


@pytest.mark.parametrize("username", ["supervisor1", "admin"])
def test_ops_home_lets_supervisors_send_notices(client, username):
    login_session(client, username)
    assert 'id="notice-form"' in page(client.get("/ops/"))


def test_ops_home_in_english(client):
    login_session(client, "operator1")
    html = page(client.get("/ops/?lang=en"))
    assert 'id="page-title">Operator console</h1>' in html and ">Operator</span>" in html
    assert "Log out" in html


def test_provider_home_shows_the_company(client, db_session):
    login_session(client, "provider1")
    user = db_session.scalar(sa.select(User).where(User.username == "provider1"))
    html = page(client.get("/provider/"))
    assert 'id="page-title">服务商工作台</h1>' in html
    assert f'id="affiliation-name">{user.provider.name_zh}</strong>' in html
    assert '"namespace": "/provider"' in html
    assert 'name="viewport"' in html
    english = page(client.get("/provider/?lang=en"))
    assert f'id="affiliation-name">{user.provider.name_en}</strong>' in english


def test_provider_home_shows_the_team(client, db_session):
    login_session(client, "team1")
    user = db_session.scalar(sa.select(User).where(User.username == "team1"))
    html = page(client.get("/provider/"))
    assert f'id="affiliation-name">{user.team.name_zh}</strong>' in html
    assert "应急服务队" in html


def test_error_pages_are_translated(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in page(response)


# --- assets and catalogue -------------------------------------------------------------------------------

def test_vendored_socketio_client_matches_the_recorded_checksum(client):
    script = (ROOT / "scripts" / "fetch_vendor.sh").read_text()
    recorded = re.search(r"SHA256=\"\$\{SHA256-([0-9a-f]{64})\}\"", script).group(1)
    response = client.get("/static/vendor/socket.io.min.js")
    assert response.status_code == 200  # static files need no login
    assert hashlib.sha256(response.data).hexdigest() == recorded
    assert (ROOT / "eldercare" / "static" / "vendor" / "socket.io.LICENSE").is_file()
    response.close()


def test_pages_load_nothing_from_other_sites(client):
    login_session(client, "supervisor1")
    for path in ("/login", "/ops/"):
        html = page(client.get(path))
        sources = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', html)
        assert sources and all(source.startswith("/static/") for source in sources), sources
        assert "<script>" not in html  # no inline code, only the JSON config block


def test_chinese_catalogue_translates_every_message():
    with (ROOT / "eldercare" / "translations" / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    translated = {message.id for message in catalogue if message.id and message.string
                  and not message.fuzzy}
    keywords = {"_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
    method_map = [("eldercare/**.py", "python"), ("eldercare/templates/**.html", "jinja2")]
    extracted = {message for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=keywords)}
    missing = sorted(str(message) for message in extracted if message not in translated)
    assert not missing, f"add these to the zh catalogue (see babel.cfg): {missing}"
