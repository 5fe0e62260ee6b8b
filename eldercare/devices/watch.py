"""The GPS-watch protocol ("3G" / "SG" / "CS" protocol of Chinese elderly and children's watches), no I/O.

Frames are ASCII on a TCP stream: ``[XX*<id>*<len>*<content>]``

- ``XX``: maker code, two letters or digits (``SG``, ``3G``, ``CS``, ``ZJ``…), echoed in every reply;
- ``<id>``: the watch's id (10 digits usually, 15 when it is the IMEI) — the device's ``uid``;
- ``<len>``: length of ``<content>`` in bytes as 4 hex digits (either case); a mismatch rejects the frame;
- ``<content>``: comma-separated, starting with the command. Binary payloads (voice ``TK``) escape
  ``}`` ``[`` ``]`` ``,`` ``*`` as ``}`` + 0x01…0x05, so a raw ``]`` always ends a frame; for such
  frames the length may count the escaped or the unescaped bytes (firmwares differ) and both are accepted.
- Some firmwares put a 4-hex-digit sequence number before the length (``[ZJ*<id>*<seq>*<len>*…]``);
  it is accepted and echoed in the reply.

Commands decoded here (anything else is a valid frame that is ignored and not answered):

- ``LK[,steps,rolls,battery%]`` — link keep-alive, answered ``LK``; becomes a ``heartbeat`` with battery.
- ``UD``/``UD2``/``UD3``/``UD_LTE``/``UD_WCDMA``… (position, ``UD2`` = stored blind-area position) — not
  answered; ``AL`` (alarm; ``AL_LTE``… variants too) — answered ``AL``. Body::

      DDMMYY,HHMMSS,A|V,lat,N|S,lng,E|W,speed,course,altitude,satellites,gsm,battery%,steps,rolls,status,…

  ``status`` is 8 hex digits (32 bits), cells and wifi follow and are not used.

Terminal status bits (the table in the vendors' protocol documents, as also decoded by Traccar):

====  =========================================  ====================================
bit   meaning                                    event here
====  =========================================  ====================================
0     low battery (state)                        ``low_battery`` — only in an ``AL`` with no alarm bit
1     outside a geofence (state)                 — (detail only)
2     inside a geofence (state)                  — (detail only)
3     watch taken off / not worn (state)         ``device_removed`` — only in an ``AL`` with no alarm bit
4     stationary / motion (state)                — (detail only)
16    SOS alarm                                  ``sos``
17    low-battery alarm                          ``low_battery``
18    left-geofence alarm                        — (no such event type; detail only)
19    entered-geofence alarm                     — (detail only)
20    watch-removed (take-off) alarm             ``device_removed``
21    fall alarm                                 ``fall``
22    fall alarm on some firmwares               ``fall`` (a false fall costs a call-back; a lost one more)
====  =========================================  ====================================

Mapping to events:

- Alarm bits (16–22) yield one event each, from ``UD*`` and ``AL`` alike, carrying location and battery.
- An ``AL`` with no alarm bit still is an alarm: its state bits 0 and 3 yield ``low_battery`` /
  ``device_removed``; with neither and no geofence bit it yields ``sos`` ("unidentified alarm"), because
  an alarm the watch was told was received must not vanish. A geofence-only ``AL`` is a position update.
- Otherwise a ``UD*``/``AL`` is a ``heartbeat`` carrying the position: the platform keeps each device's last
  position and last sign of life from heartbeats; ``occurred_at`` is the fix time, so a late ``UD2`` (stored
  blind-area position) can be told from a newer one. Low battery outside an alarm is judged from
  ``battery_pct`` by supervision, not by an event per position report.
- Location: ``None`` when the fix is ``V``, a coordinate is zero, unreadable or out of range — an alarm
  without a fix is still an alarm.

Time: the watches send UTC unless the platform has set another zone on them (command ``LZ``), which this
platform never does; ``device_tz`` exists for a fleet configured otherwise. Device times before 2010
(a reset clock) or more than a day ahead of reception are not trusted: ``occurred_at`` is then ``None``.

Idempotency keys (the store dedupes by (device, key)); a watch resends an unanswered ``AL`` unchanged:

- ``UD*``/``AL`` events: ``"<type>:<device time YYYYMMDDTHHMMSSZ>:<status as 8 hex>"`` — the same alarm
  resent, or reported by both an ``AL`` and a ``UD``, is processed once; the event type keeps the several
  events of one frame apart. With an untrusted device time the time part is the reception minute
  (``rx<YYYYMMDDTHHMM>Z``): a resend within the minute is processed once, one that crosses the minute is
  processed twice (a repeated alarm merges into the open incident) — never a later alarm lost as a
  "duplicate" of an old one with the same stuck clock.
- ``LK``: ``"heartbeat:lk<reception time to the second>"`` — a heartbeat carries no identity; two in the
  same second are one sign of life.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

MAX_FRAME = 4096

# status bit → event type, in the order events are listed (life-safety first)
ALARM_BITS: tuple[tuple[int, str], ...] = ((16, "sos"), (21, "fall"), (22, "fall"), (20, "device_removed"),
                                           (17, "low_battery"))
FLAG_NAMES: dict[int, str] = {
    0: "low battery", 1: "outside geofence", 2: "inside geofence", 3: "not worn", 4: "stationary",
    16: "SOS alarm", 17: "low-battery alarm", 18: "left-geofence alarm", 19: "entered-geofence alarm",
    20: "removed alarm", 21: "fall alarm", 22: "fall alarm",
}
GEOFENCE_BITS = (1 << 1) | (1 << 2) | (1 << 18) | (1 << 19)
ALARM_MASK = sum(1 << bit for bit, _ in ALARM_BITS)

_FRAME = re.compile(
    rb"\[([0-9A-Za-z]{2})\*([0-9A-Za-z]{1,20})\*(?:([0-9A-Fa-f]{4})\*)?([0-9A-Fa-f]{4})\*([^\[\]]*)\]", re.S)
_COMMAND = re.compile(r"[A-Za-z0-9_]{1,16}")
_HEX32 = re.compile(r"[0-9A-Fa-f]{1,8}")
_DEGREES = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,10})?")
_ESCAPES = {1: b"}", 2: b"[", 3: b"]", 4: b",", 5: b"*"}
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
_ESCAPE_UNPRINTABLE = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0x100))}
_MIN_DEVICE_TIME = datetime(2010, 1, 1, tzinfo=UTC)
_LOCATION_FIELDS = 16  # date … status


class WatchProtocolError(ValueError):
    """A frame that is not a well-formed watch frame, or a known command with an unreadable body."""


@dataclass(frozen=True, slots=True)
class Frame:
    maker: str
    watch_id: str
    seq: str | None  # the optional sequence number, echoed in replies
    content: bytes
    raw: bytes

    @property
    def command(self) -> str:
        head = self.content.split(b",", 1)[0]
        text = head.decode("ascii", "replace")
        return text.upper() if _COMMAND.fullmatch(text) else ""


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    idempotency_key: str
    code: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class WatchMessage:
    maker: str
    watch_id: str
    command: str
    battery_pct: int | None
    location: Location | None
    device_time: datetime | None  # trusted device time (aware UTC) or None
    status: int | None
    events: tuple[WatchEvent, ...]
    reply: bytes | None  # sent once every event is durably stored
    raw: str


class FrameSplitter:
    """Cuts a TCP byte stream into ``[…]`` frames; the stream may split or join frames anywhere.

    Bytes outside frames are dropped. ``overflow`` turns true (and stays) when a frame, a pending partial
    frame or the junk since the last frame exceeds ``max_frame`` bytes: the connection should be closed.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.overflow = False
        self._buf = b""
        self._junk = 0

    @property
    def pending(self) -> int:
        """Bytes of a frame begun but not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self.overflow:
            return []
        buf = self._buf + data if self._buf else data
        frames: list[bytes] = []
        pos = 0
        while True:
            start = buf.find(b"[", pos)
            if start < 0:
                self._junk += len(buf) - pos
                pos = len(buf)
                break
            self._junk += start - pos
            end = buf.find(b"]", start + 1)
            if end < 0:
                pos = self._resync(buf, start, len(buf))
                break
            pos = self._resync(buf, start, end)
            frame = buf[pos:end + 1]
            pos = end + 1
            if len(frame) > self.max_frame:
                self.overflow = True
                break
            frames.append(frame)
            self._junk = 0
        self._buf = buf[pos:]
        if len(self._buf) > self.max_frame or self._junk > self.max_frame:
            self.overflow = True
        if self.overflow:
            self._buf = b""
        return frames

    def _resync(self, buf: bytes, start: int, end: int) -> int:
        """A later ``[`` before the end means the frame at ``start`` was cut off: restart there."""
        again = buf.rfind(b"[", start, end)
        self._junk += again - start
        return again


def parse_frame(raw: bytes) -> Frame:
    """Check one ``[…]`` frame's structure and length field."""
    match = _FRAME.fullmatch(raw)
    if match is None:
        raise WatchProtocolError("not a watch frame")
    maker, watch_id, seq, length, content = match.groups()
    declared = int(length, 16)
    if declared != len(content) and not (b"}" in content and declared == len(_unescape(content))):
        raise WatchProtocolError(f"length field {declared} but {len(content)} bytes of content")
    return Frame(maker.decode(), watch_id.decode(), seq.decode() if seq else None, content, raw)


def build_frame(maker: str, watch_id: str, content: str, seq: str | None = None) -> bytes:
    body = content.encode("ascii")
    seq_part = f"{seq}*" if seq else ""
    return f"[{maker}*{watch_id}*{seq_part}{len(body):04X}*".encode() + body + b"]"


def decode(frame: Frame, received_at: datetime, *, device_tz: tzinfo = UTC) -> WatchMessage:
    """What a frame means: its events (with idempotency keys) and the reply owed once they are stored."""
    command = frame.command
    raw = _printable(frame.raw)
    if command == "LK":
        battery = _lk_battery(frame.content)
        key = f"heartbeat:lk{_second(int(received_at.timestamp()))}"
        event = WatchEvent("heartbeat", key, code="LK", detail=None)
        return WatchMessage(frame.maker, frame.watch_id, command, battery, None, None, None, (event,),
                            build_frame(frame.maker, frame.watch_id, "LK", frame.seq), raw)
    if command.startswith(("UD", "AL")):
        return _decode_report(frame, command, raw, received_at, device_tz)
    return WatchMessage(frame.maker, frame.watch_id, command, None, None, None, None, (), None, raw)


def _decode_report(frame: Frame, command: str, raw: str, received_at: datetime, device_tz: tzinfo) -> WatchMessage:
    alarm = command.startswith("AL")
    fields = [field.decode("ascii", "replace").strip() for field in frame.content.split(b",")[1:]]
    if len(fields) < _LOCATION_FIELDS and not alarm:
        raise WatchProtocolError(f"{command} with {len(fields)} fields")
    fields += [""] * (_LOCATION_FIELDS - len(fields))
    status = _hex32(fields[15])
    if status is None and not alarm:
        raise WatchProtocolError(f"{command} with an unreadable status {fields[15][:16]!r}")
    device_time = _device_time(fields[0], fields[1], device_tz, received_at)
    if device_time is None and not alarm and not _time_shaped(fields[0], fields[1]):
        raise WatchProtocolError(f"{command} with an unreadable time")
    location = _location(fields[2:7])
    battery = _percent(fields[12])
    stamp = (f"{device_time:%Y%m%dT%H%M%S}Z" if device_time is not None
             else f"rx{received_at.astimezone(UTC):%Y%m%dT%H%M}Z")
    code = f"{status:08X}" if status is not None else None
    detail = _describe(command, status)
    events = tuple(WatchEvent(kind, f"{kind}:{stamp}:{code or 'nostatus'}", code, detail)
                   for kind in _event_types(status, alarm=alarm))
    reply = build_frame(frame.maker, frame.watch_id, "AL", frame.seq) if alarm else None
    return WatchMessage(frame.maker, frame.watch_id, command, battery, location, device_time, status, events,
                        reply, raw)


def _event_types(status: int | None, *, alarm: bool) -> list[str]:
    bits = status or 0
    kinds = list(dict.fromkeys(kind for bit, kind in ALARM_BITS if bits >> bit & 1))
    if kinds or not alarm:
        return kinds or ["heartbeat"]
    kinds = [kind for bit, kind in ((0, "low_battery"), (3, "device_removed")) if bits >> bit & 1]
    if kinds:
        return kinds
    return ["heartbeat"] if bits & GEOFENCE_BITS else ["sos"]


def _describe(command: str, status: int | None) -> str | None:
    if status == 0 and not command.startswith("AL"):
        return None
    if status is None:
        return f"watch {command}, status unreadable: unidentified alarm"
    flags = [name for bit, name in FLAG_NAMES.items() if status >> bit & 1]
    if command.startswith("AL") and not status & (ALARM_MASK | GEOFENCE_BITS | 0b1001):
        flags.append("unidentified alarm")
    return f"watch {command} status {status:08X}" + (": " + ", ".join(flags) if flags else "")


def _printable(raw: bytes) -> str:
    """The frame as text safe for any database column: bytes outside printable ASCII (NUL would make
    PostgreSQL refuse the row, and with it the alarm) are written ``\\xNN``."""
    if _PRINTABLE.fullmatch(raw):
        return raw.decode("ascii")
    return raw.decode("latin-1").translate(_ESCAPE_UNPRINTABLE)


@lru_cache(maxsize=4)
def _second(epoch_s: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` (cached: a busy receiver formats the same second thousands of times)."""
    return f"{datetime.fromtimestamp(epoch_s, UTC):%Y%m%dT%H%M%S}Z"


def _lk_battery(content: bytes) -> int | None:
    values = content.split(b",")
    return _percent(values[3].decode("ascii", "replace").strip()) if len(values) >= 4 else None


def _percent(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 3:
        return None
    value = int(text)
    return value if value <= 100 else None


def _hex32(text: str) -> int | None:
    return int(text, 16) if _HEX32.fullmatch(text) else None


def _time_shaped(date: str, time: str) -> bool:
    return len(date) == len(time) == 6 and (date + time).isascii() and (date + time).isdigit()


def _device_time(date: str, time: str, device_tz: tzinfo, received_at: datetime) -> datetime | None:
    if not _time_shaped(date, time):
        return None
    try:
        local = datetime(2000 + int(date[4:]), int(date[2:4]), int(date[:2]),
                         int(time[:2]), int(time[2:4]), int(time[4:]), tzinfo=device_tz)
    except ValueError:
        return None
    value = local.astimezone(UTC)
    if value < _MIN_DEVICE_TIME or value > received_at + timedelta(days=1):
        return None
    return value


def _location(fields: list[str]) -> Location | None:
    validity, lat_text, north_south, lng_text, east_west = fields
    if validity.upper() != "A":
        return None
    lat, lng = _coordinate(lat_text), _coordinate(lng_text)
    if lat is None or lng is None or lat == 0 or lng == 0 or abs(lat) > 90 or abs(lng) > 180:
        return None
    if north_south.upper() == "S":
        lat = -abs(lat)
    if east_west.upper() == "W":
        lng = -abs(lng)
    return Location(lat, lng)


def _coordinate(text: str) -> float | None:
    return float(text) if _DEGREES.fullmatch(text) else None


def _unescape(content: bytes) -> bytes:
    out = bytearray()
    parts = content.split(b"}")
    out += parts[0]
    for part in parts[1:]:
        out += _ESCAPES.get(part[0], b"}" + part[:1]) + part[1:] if part else b"}"
    return bytes(out)
