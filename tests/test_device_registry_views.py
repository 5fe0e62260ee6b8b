"""The device registry's console pages through the Flask test client: who sees what, forms that share the API's
rules, a token shown once and never cached, retire and rotate with a confirmation, Chinese by default."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from eldercare.core.models import AuditEvent
from eldercare.devices.models import Device
from eldercare.households.models import Household
from tests.helpers import login_session


@pytest.fixture
def homes(db_session):
    return db_session.scalars(sa.select(Household).where(Household.active.is_(True)).order_by(Household.id)
                              .limit(2)).all()


@pytest.fixture
def admin_csrf(client):
    return login_session(client, "admin")


def page(response) -> str:
    return response.get_data(as_text=True)


def form_post(client, path, csrf, **data):
    return client.post(path, data={"csrf_token": csrf, **data})


def device_by_uid(db_session, uid):
    return db_session.scalar(sa.select(Device).where(Device.uid == uid))


def test_admins_get_the_link_and_the_actions(client, admin_csrf):
    html = page(client.get("/ops/"))
    assert 'id="nav-devices"' in html and "设备管理" in html
    listing = client.get("/admin/devices/")
    assert listing.status_code == 200
    html = page(listing)
    assert '<h1 id="page-title">设备管理</h1>' in html
    assert 'id="action-new"' in html and 'id="action-import"' in html
    assert html.count('class="row-link mono"') == 50  # one page
    assert re.search(r"共 [\d,]+ 台设备", html)


@pytest.mark.parametrize("username", ["operator1", "supervisor1"])
def test_the_call_centre_may_look_but_not_touch(client, username):
    login_session(client, username)
    html = page(client.get("/admin/devices/"))
    assert "只读" in html and 'id="action-new"' not in html
    assert 'id="nav-devices"' not in page(client.get("/ops/"))  # the header link is for administrators
    detail = page(client.get("/admin/devices/1"))
    assert 'id="device-details"' in detail and 'id="edit-form"' not in detail and 'id="retire-form"' not in detail
    assert client.get("/admin/devices/new").status_code == 403
    assert client.get("/admin/devices/import").status_code == 403


def test_field_staff_cannot_open_the_registry(client):
    login_session(client, "provider1")
    assert client.get("/admin/devices/").status_code == 403


def test_list_filters_search_and_pages(client, db_session, admin_csrf, homes):
    html = page(client.get(f"/admin/devices/?q={homes[0].code}"))
    assert homes[0].code in html
    watch = page(client.get("/admin/devices/?protocol=watch&status=active"))
    assert "定位手表" in watch and "SIA DC-09 报警主机</td>" not in watch
    second = page(client.get("/admin/devices/?page=2&protocol=dc09"))
    assert "第 2 / " in second and "protocol=dc09" in second
    assert client.get("/admin/devices/?page=abc&protocol=zigbee").status_code == 200  # bad filters are dropped
    assert "没有符合条件的设备" in page(client.get("/admin/devices/?q=no-such-device-anywhere"))


def test_register_form_shows_an_http_token_once_and_not_cached(client, db_session, admin_csrf, homes):
    response = form_post(client, "/admin/devices/new", admin_csrf, protocol="http", uid="web-hub-1",
                         household_code=homes[0].code, model="", phone="", aes_key="", heartbeat_interval_s="")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = page(response)
    device = device_by_uid(db_session, "web-hub-1")
    token = re.search(r'id="token-value" class="mono" readonly value="([^"]+)"', html).group(1)
    assert token.startswith(f"d{device.id}.") and "仅显示这一次" in html
    later = page(client.get(f"/admin/devices/{device.id}"))
    assert token not in later and 'id="token-box"' not in later
    assert "已签发（仅保存哈希值）" in later
    assert db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "device.register",
                                                          AuditEvent.target_id == device.id)).one()


def test_register_form_normalises_and_redirects_for_devices_without_token(client, db_session, admin_csrf, homes):
    response = form_post(client, "/admin/devices/new", admin_csrf, protocol="sms", uid="138 0000 2222",
                         household_code=homes[0].code)
    device = device_by_uid(db_session, "+8613800002222")
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/devices/{device.id}"
    assert "设备 +8613800002222 已登记" in page(client.get(response.headers["Location"]))


def test_register_form_errors_are_shown_on_their_fields(client, db_session, admin_csrf, homes):
    response = form_post(client, "/admin/devices/new", admin_csrf, protocol="dc09", uid="XYZ",
                         household_code="NOPE", aes_key="123", heartbeat_interval_s="5")
    assert response.status_code == 400
    html = page(response)
    assert 'id="error-summary"' in html
    for name in ("uid", "aes_key", "heartbeat_interval_s"):
        assert f'id="{name}-error"' in html, name
    assert 'value="XYZ"' in html  # what was typed stays
    again = form_post(client, "/admin/devices/new", admin_csrf, protocol="dc09", uid="ABC1", household_code="NOPE")
    assert again.status_code == 400 and 'id="household_code-error"' in page(again) and "没有这个户号" in page(again)
    assert device_by_uid(db_session, "ABC1") is None


def test_duplicate_registration_is_409_on_the_uid(client, admin_csrf, homes):
    form_post(client, "/admin/devices/new", admin_csrf, protocol="watch", uid="8620007001",
              household_code=homes[0].code)
    again = form_post(client, "/admin/devices/new", admin_csrf, protocol="watch", uid="8620007001",
                      household_code=homes[1].code)
    assert again.status_code == 409 and 'id="uid-error"' in page(again)


def test_edit_form_moves_and_changes_the_device(client, db_session, admin_csrf, homes):
    form_post(client, "/admin/devices/new", admin_csrf, protocol="dc09", uid="E0E0", household_code=homes[0].code,
              model="HX-EN200")
    device = device_by_uid(db_session, "E0E0")
    response = form_post(client, f"/admin/devices/{device.id}", admin_csrf, household_code=homes[1].code,
                         model="HX-EN300", heartbeat_interval_s="", phone="13700003333", aes_key="ab" * 16)
    assert response.status_code == 302
    db_session.refresh(device)
    assert device.household_id == homes[1].id and device.model == "HX-EN300"
    assert device.heartbeat_interval_s == 900  # empty: the (new) model's default
    assert device.phone == "+8613700003333" and device.aes_key == "AB" * 16
    assert "修改已保存" in page(client.get(f"/admin/devices/{device.id}"))
    form_post(client, f"/admin/devices/{device.id}", admin_csrf, household_code=homes[1].code, model="HX-EN300",
              heartbeat_interval_s="900", phone="", clear_aes_key="y")
    db_session.refresh(device)
    assert device.aes_key is None and device.phone is None
    bad = form_post(client, f"/admin/devices/{device.id}", admin_csrf, household_code="NOPE", model="",
                    heartbeat_interval_s="x")
    assert bad.status_code == 400
    assert 'id="household_code-error"' in page(bad) and 'id="heartbeat_interval_s-error"' in page(bad)


def test_retire_needs_the_confirmation(client, db_session, admin_csrf, homes):
    form_post(client, "/admin/devices/new", admin_csrf, protocol="watch", uid="8620007002",
              household_code=homes[0].code)
    device = device_by_uid(db_session, "8620007002")
    refused = form_post(client, f"/admin/devices/{device.id}/retire", admin_csrf, reason="test")
    assert refused.status_code == 400 and 'id="retire-confirm-error"' in page(refused)
    db_session.refresh(device)
    assert device.status == "active"
    done = form_post(client, f"/admin/devices/{device.id}/retire", admin_csrf, reason="搬走了", confirm="y")
    assert done.status_code == 302
    db_session.refresh(device)
    assert device.status == "retired"
    html = page(client.get(f"/admin/devices/{device.id}"))
    assert "设备 8620007002 已停用" in html and 'id="edit-form"' not in html and 'data-status="retired"' in html


def test_rotate_token_from_the_console(client, db_session, admin_csrf, homes):
    form_post(client, "/admin/devices/new", admin_csrf, protocol="http", uid="web-hub-2",
              household_code=homes[0].code)
    device = device_by_uid(db_session, "web-hub-2")
    old_hash = device.token_hash
    assert form_post(client, f"/admin/devices/{device.id}/token", admin_csrf).status_code == 400
    response = form_post(client, f"/admin/devices/{device.id}/token", admin_csrf, confirm="y")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert 'id="token-value"' in page(response) and "旧令牌作废" in page(response)
    db_session.refresh(device)
    assert device.token_hash != old_hash


def test_forms_need_the_csrf_token(client, admin_csrf, homes):
    response = client.post("/admin/devices/new", data={"protocol": "watch", "uid": "8620007003",
                                                       "household_code": homes[0].code})
    assert response.status_code == 400


def test_import_page_and_english(client, admin_csrf):
    html = page(client.get("/admin/devices/import"))
    assert "批量导入设备" in html and 'id="import-file"' in html and "devices-import.js" in html
    assert "uid%2Cprotocol%2Chousehold_code" in html or "uid,protocol,household_code" in html
    english = page(client.get("/admin/devices/?lang=en"))
    assert '<h1 id="page-title">Devices</h1>' in english and "Register a device" in english


def test_unknown_device_page_is_404(client, admin_csrf):
    response = client.get("/admin/devices/99999999")
    assert response.status_code == 404 and "text/html" in response.content_type
