"""The demo accounts of CONTRACT.md, plus a second of each role to try hand-overs and races."""

from __future__ import annotations

from eldercare.demo.context import Row

# (username, role, display name, provider id, team id); providers 1-2 and teams 1-2 are the lowest ids.
ACCOUNTS = (
    ("admin", "admin", "系统管理员", None, None),
    ("supervisor1", "supervisor", "值班主任 张丽", None, None),
    ("supervisor2", "supervisor", "值班主任 刘建军", None, None),
    ("operator1", "operator", "话务员 王芳", None, None),
    ("operator2", "operator", "话务员 赵敏", None, None),
    ("provider1", "provider_staff", "派单员（1号加盟企业）", 1, None),
    ("provider2", "provider_staff", "派单员（2号加盟企业）", 2, None),
    ("team1", "team_member", "应急服务一队队长", None, 1),
    ("team2", "team_member", "应急服务二队队长", None, 2),
)


def account_rows() -> list[Row]:
    """Users without their password hash: the loader sets it from the configured demo password."""
    return [
        {"id": i, "username": username, "role": role, "display_name": display, "provider_id": provider,
         "team_id": team, "language": "zh"}
        for i, (username, role, display, provider, team) in enumerate(ACCOUNTS, start=1)
    ]
