"""The supervisor view page, the nav link to it, the KPI strip on both consoles and the translated code
labels the scripts read (Chinese by default, English with ?lang=en)."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import login_session


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def json_block(html: str, block_id: str) -> dict:
    match = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S)
    assert match is not None, block_id
    return json.loads(match.group(1))


@pytest.mark.parametrize("username", ["supervisor1", "admin"])
def test_supervisor_page_for_supervisors(client, username):
    login_session(client, username)
    html = page(client, "/ops/supervisor")
    assert "<title>值班主任视图 · 为老服务信息中心</title>" in html
    for element in ('id="kpis"', 'id="operators-body"', 'id="unclaimed-body"', 'id="mass-cancel"',
                    'id="cancel-reason"', 'id="reviews-body"', 'id="nav-supervisor"', "js/supervisor.js",
                    "js/kpis.js"):
        assert element in html, element
    assert 'aria-current="page">值班主任视图</a>' in html
    strings = json_block(html, "console-config")["strings"]
    assert strings["markReviewed"] == "标记为已复核" and strings["roles"]["operator"] == "话务员"
    assert json_block(html, "code-labels")["outcomes"]["false_alarm"] == "误报"


def test_supervisor_page_is_refused_to_operators(client):
    login_session(client, "operator1")
    assert client.get("/ops/supervisor").status_code == 403
    html = page(client, "/ops/")
    assert 'id="nav-supervisor"' not in html  # the link is for supervisors and admins


def test_ops_home_links_supervisors_to_their_view(client):
    login_session(client, "supervisor1")
    html = page(client, "/ops/")
    assert 'id="nav-supervisor" href="/ops/supervisor"' in html
    assert 'id="nav-devices"' not in html  # still for administrators only


def test_kpi_strip_and_code_labels_on_the_ops_home(client):
    login_session(client, "operator1")
    html = page(client, "/ops/")
    assert 'id="kpis"' in html and 'data-kpi="time_to_claim"' in html and "js/kpis.js" in html
    assert "接警用时" in html and "15秒内接警" in html
    labels = json_block(html, "code-labels")
    assert labels["types"]["sos"] == "一键呼救"
    assert labels["outcomes"]["grid_leader_attended"] == "楼院门栋长到场"
    assert labels["stepKinds"]["call_grid_leader"] == "联系楼院门栋长"
    assert labels["statuses"]["cancelled"] == "已取消"


def test_code_labels_in_english(client):
    login_session(client, "supervisor1")
    html = page(client, "/ops/supervisor?lang=en")
    assert "Supervisor view" in html and "To answer" in html
    labels = json_block(html, "code-labels")
    assert labels["outcomes"]["false_alarm"] == "False alarm" and labels["types"]["power_loss"] == "Power loss"
    assert json_block(html, "console-config")["strings"]["markReviewed"] == "Mark reviewed"


def test_every_code_has_a_label(client):
    from eldercare.alerts.models import INCIDENT_STATUSES, OUTCOMES
    from eldercare.alerts.plans import STEP_KINDS, STEP_RESULTS
    from eldercare.devices.models import EVENT_TYPES

    login_session(client, "supervisor1")
    labels = json_block(page(client, "/ops/supervisor"), "code-labels")
    assert set(OUTCOMES) <= set(labels["outcomes"]) and set(INCIDENT_STATUSES) <= set(labels["statuses"])
    assert set(STEP_KINDS) <= set(labels["stepKinds"]) and set(STEP_RESULTS) <= set(labels["stepResults"])
    assert set(EVENT_TYPES) <= set(labels["types"])


def test_supervisor_page_loads_nothing_from_other_sites(client):
    login_session(client, "supervisor1")
    html = page(client, "/ops/supervisor")
    sources = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/static/") for source in sources), sources
    assert "<script>" not in html
