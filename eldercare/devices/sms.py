"""Alarms texted by GSM devices ("SOS …" from the SIM of a registered SMS device).

Bodies seen from such devices: `SOS`, `SOS! lat:40.8412,lng:111.7521`, `SOS http://maps.google.com/maps?q=
N40.8412,E111.7521`, `FALL …`, `LOW BATTERY 15%`. The Twilio MessageSid is the idempotency key, so a
webhook Twilio retries is processed once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

COORDS = [
    re.compile(r"lat[:=]\s*(?P<lat>-?\d{1,2}\.\d+)\s*[,;\s]\s*(?:lng|lon)[:=]\s*(?P<lng>-?\d{1,3}\.\d+)", re.I),
    re.compile(r"[?&]q=(?P<ns>[NS])?(?P<lat>-?\d{1,2}\.\d+),\s*(?P<ew>[EW])?(?P<lng>-?\d{1,3}\.\d+)", re.I),
]
BATTERY = re.compile(r"(\d{1,3})\s*%")
KINDS = (("SOS", "sos"), ("FALL", "fall"), ("LOW BAT", "low_battery"), ("CANCEL", "cancel"))


@dataclass(frozen=True)
class SmsAlarm:
    type: str
    lat: float | None
    lng: float | None
    battery_pct: int | None


def normalise_number(raw: str, region: str = "CN") -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_alarm(body: str) -> SmsAlarm | None:
    """The alarm an SMS device's text carries, or None when it is not one (`SOS` must lead the text)."""
    text = body.strip()
    kind = next((event for prefix, event in KINDS if text.upper().startswith(prefix)), None)
    if kind is None:
        return None
    lat = lng = None
    for pattern in COORDS:
        match = pattern.search(text)
        if match:
            lat, lng = float(match["lat"]), float(match["lng"])
            if (match.groupdict().get("ns") or "").upper() == "S":
                lat = -abs(lat)
            if (match.groupdict().get("ew") or "").upper() == "W":
                lng = -abs(lng)
            if not (-90 <= lat <= 90 and -180 <= lng <= 180):
                lat = lng = None
            break
    battery = BATTERY.search(text)
    pct = int(battery.group(1)) if battery and int(battery.group(1)) <= 100 else None
    return SmsAlarm(kind, lat, lng, pct)
