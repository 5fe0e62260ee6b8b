"""1,350 electronic-nanny devices, one per household, across the four intake protocols, and their models.

Supervision fields (last_seen_at, next_heartbeat_due) stay empty: no real device reports in a demo, and
a due time in the data would turn the whole fleet into "offline" alarms minutes after start-up. A device's
supervision starts with its first message. HTTP tokens are issued at registration, so none here.
"""

from __future__ import annotations

from collections import Counter

from eldercare.demo.context import Ctx, Row

DEVICE_COUNT = 1350
PROTOCOL_WEIGHTS = (("dc09", "watch", "http", "sms"), (45, 25, 18, 12))
# Per protocol: (model code, heartbeat interval in seconds, battery range).
MODELS = {
    "dc09": (("HX-EN200", 3600, (85, 100)), ("HX-EN300", 900, (85, 100))),
    "watch": (("GW-S6", 300, (15, 100)), ("GW-S8", 600, (15, 100))),
    "http": (("EC-HUB2", 300, (60, 100)), ("EC-RADAR", 120, (90, 100))),
    "sms": (("SOS-M1", 86400, (30, 100)),),
}
# The device_models rows: (code, name, low-battery threshold %). Mains-powered hosts warn earlier: their
# battery is the backup that must last through a power cut.
MODEL_NAMES = (
    ("HX-EN200", "HX-EN200 电子保姆主机", 30), ("HX-EN300", "HX-EN300 电子保姆主机 4G", 30),
    ("GW-S6", "GW-S6 定位手表", 20), ("GW-S8", "GW-S8 4G 定位手表", 20),
    ("EC-HUB2", "EC-Hub2 智能网关", 25), ("EC-RADAR", "EC-Radar 跌倒监测雷达", 25),
    ("SOS-M1", "SOS-M1 一键呼叫器", 20),
)
HEX = "0123456789ABCDEF"


def model_rows() -> list[Row]:
    specs = {code: (protocol, interval) for protocol, models in MODELS.items() for code, interval, _ in models}
    return [{"id": i, "code": code, "name": name, "protocol": specs[code][0], "heartbeat_interval_s": specs[code][1],
             "low_battery_pct": low} for i, (code, name, low) in enumerate(MODEL_NAMES, start=1)]


def device_rows(ctx: Ctx, households: list[Row], residents: list[Row]) -> list[Row]:
    size = Counter(r["household_id"] for r in residents)
    # Devices went first to people living alone, so they are over-represented without being the only ones.
    ranked = sorted(households, key=lambda h: ctx.rng.random() * (0.5 if size[h["id"]] == 1 else 1.0))
    chosen = sorted(ranked[:DEVICE_COUNT], key=lambda h: h["id"])
    uids: set[tuple[str, str]] = set()
    rows: list[Row] = []
    for household in chosen:
        protocol = ctx.rng.choices(*PROTOCOL_WEIGHTS)[0]
        rows.append(_device(ctx, len(rows) + 1, household, protocol, uids))
    return rows


def _device(ctx: Ctx, row_id: int, household: Row, protocol: str, uids: set[tuple[str, str]]) -> Row:
    rng = ctx.rng
    model, heartbeat_s, battery = rng.choice(MODELS[protocol])
    uid = _uid(ctx, protocol, row_id, uids)
    installed = max(household["created_at"], ctx.moment(2012, 2024))
    phone = uid if protocol == "sms" else ctx.mobile() if protocol == "watch" else None  # the SIM inside
    aes_key = f"{rng.getrandbits(128):032X}" if protocol == "dc09" and ctx.chance(1 / 3) else None
    return {
        "id": row_id, "uid": uid, "protocol": protocol, "household_id": household["id"], "model": model,
        "phone": phone, "aes_key": aes_key, "token_hash": None, "heartbeat_interval_s": heartbeat_s,
        "status": "active", "online": True, "battery_pct": rng.randint(*battery),
        "last_seen_at": None, "last_activity_at": None, "next_heartbeat_due": None,
        "installed_on": installed, "retired_at": None, "created_at": installed, "updated_at": installed,
    }


def _uid(ctx: Ctx, protocol: str, row_id: int, uids: set[tuple[str, str]]) -> str:
    """What the device reports about itself: DC-09 account, watch id, SIM number or a made-up HTTP id."""
    while True:
        if protocol == "dc09":
            uid = "".join(ctx.rng.choices(HEX, k=ctx.rng.randint(4, 6)))
        elif protocol == "watch":
            uid = str(ctx.rng.randrange(10**9, 10**10))
        elif protocol == "sms":
            uid = ctx.mobile()
        else:
            uid = f"HTTP-{row_id:06d}"
        if (protocol, uid) not in uids:
            uids.add((protocol, uid))
            return uid
