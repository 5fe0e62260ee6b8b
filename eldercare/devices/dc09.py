"""SIA DC-09 (ANSI/SIA DC-09-2013/2021) frames: parse, check, decrypt, and build the answers. Pure, no I/O.

A frame on the wire::

    <LF> <crc> <0LLL> "<id>" <seq> [R<rcvr>] L<pref> [#<acct>] [<data>] [<xdata>]… [_HH:MM:SS,MM-DD-YYYY] <CR>

- ``crc``: CRC-16/ARC of the message (from the opening quote of the id to the end of the timestamp) as 4 hex
  digits, or as 2 raw bytes, most significant first (both are accepted; answers use hex).
- ``0LLL``: length of that same message, 4 hex digits.
- ``id``: ``SIA-DCS``, ``ADM-CID`` or ``NULL``; ``*`` before it (``"*SIA-DCS"``) marks an encrypted message.
  Any other id is answered ``DUH``.
- Encryption (accounts with a key): AES-CBC, 128/192/256-bit key, zero IV. Everything after the first ``[``
  through the end of the timestamp is encrypted and sent as hex; the plaintext starts with random pad
  characters and ``|``, so that it is a multiple of 16 bytes. An encrypted message must carry a timestamp.
- Timestamp (UTC): outside the window (40 s in the past, 20 s in the future by default) → ``NAK``.

What a rejected frame is answered (`Rejection.reply`): a frame cut, garbled, with a wrong length or CRC →
nothing (the sender retries); unsupported id, or a correct frame whose data cannot be read → ``DUH``;
timestamp missing (encrypted), outside the window or unreadable, a message that does not decrypt → ``NAK``
(which carries the receiver's clock). The receiver adds: unknown account, and a plain message from an
account that has a key (anyone could forge it) → ``NAK``.

Codes → platform event types (`cid_event` and `sia_event`; a restore keeps the type of what it restores
with ``qualifier="restore"``, so the platform can close the matching technical incident):

=====================================  =========================  ======================================
Contact ID (ADM-CID)                   SIA-DCS                    event type
=====================================  =========================  ======================================
100 medical, 101 personal emergency,   MA, QA, PA, HA             ``sos``
120–129 panic/duress
102 fail to report in, 641 senior      NA                         ``no_activity``
watch trouble, 654 system inactivity
110–118 fire (smoke, heat, …)          FA, KA, SA                 ``smoke``
151 gas, 162 carbon monoxide           GA                         ``gas``
154 water leakage                      WA                         ``water``
301, 312, 337, 342 AC/power loss       AT, YP                     ``power_loss``
302, 309, 311, 338, 384 low battery    YT, YM, XT                 ``low_battery``
137, 144, 145, 383 tamper              TA, JA; YC comms failure,  ``device_removed``
                                       YX service required
406 cancel                             OC, BC                     ``cancel``
601, 602, 604, 607, 608, 611 tests     RP, RX, RY, TX, FX         ``test``
603 periodic RF transmission           NULL message               ``heartbeat``
=====================================  =========================  ======================================

Codes not in the table go by their class, failing safe: any other alarm (Contact ID 1xx, SIA ``?A``:
burglary, freeze, untyped zone, exit…) → ``sos``, because an alarm the panel was told was received must reach
an operator; other supervisory and trouble codes (2xx, 3xx, SIA ``?T``/``?S``) → ``device_removed``, the
platform's generic "a technician must look at this device" type; everything else (open/close, bypass,
programming: 4xx–9xx, SIA ``OP``/``CL``…) → ``heartbeat``, a sign of life that opens nothing.
There is no standard Contact ID or SIA code for a fall: the fall detectors of PERS kits report 100/101
(``MA``/``QA``) on their own zone, so a fall arrives as ``sos`` with that zone; ``fall`` is used by the watch
and HTTP paths, which tell falls apart.
"""

from __future__ import annotations

import functools
import re
import secrets
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SUPPORTED_IDS = frozenset({"SIA-DCS", "ADM-CID", "NULL"})
DEFAULT_WINDOW = (40.0, 20.0)  # seconds a timestamp may lie in the past, in the future
MAX_MESSAGE = 0x0FFF  # what 0LLL can say

Reply = Literal["none", "nak", "duh"]
Reason = Literal["framing", "length", "crc", "format", "unsupported", "timestamp", "decrypt", "no_key"]

LF, CR, QUOTE = 0x0A, 0x0D, 0x22

# ---------------------------------------------------------------------------------------------------- CRC


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


@functools.cache
def _crc_table16() -> tuple[int, ...]:
    """The CRC after 16 zero bits from each 16-bit state: two bytes per step (built once: ~30 ms, ~2 MB)."""
    table = _CRC_TABLE
    return tuple(table[(step := (state >> 8) ^ table[state & 0xFF]) & 0xFF] ^ (step >> 8) for state in range(65536))


def crc16(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0, no final xor): b"123456789" → 0xBB3D."""
    crc = 0
    table16 = _crc_table16()
    even = len(data) & ~1
    for (word,) in struct.iter_unpack("<H", data[:even]):
        crc = table16[crc ^ word]
    if even != len(data):
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ data[-1]) & 0xFF]
    return crc


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame whose length and CRC are right, its header read; the data not yet decrypted or read."""

    kind: str  # the id token without its "*": SIA-DCS, ADM-CID, NULL or anything a sender made up
    encrypted: bool
    seq: str
    receiver: str | None
    prefix: str
    account: str | None
    body: str  # everything after the first "[" (hex when encrypted)
    raw: str  # the frame without its LF and CR (a raw-byte CRC written as 4 hex digits)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    reply: Reply
    detail: str
    frame: Frame | None = None  # set once the header was read: a DUH echoes it


@dataclass(frozen=True, slots=True)
class Message:
    """One accepted DC-09 message: what the platform stores about it."""

    kind: str  # id token: SIA-DCS, ADM-CID or NULL
    encrypted: bool
    seq: str
    receiver: str | None
    prefix: str
    account: str | None
    event_type: str
    code: str | None  # Contact ID event code ("100") or SIA code ("MA")
    qualifier: str | None  # "new", "restore" or "status"
    partition: str | None  # Contact ID group, SIA "ri"
    zone: str | None
    occurred_at: datetime | None  # the message's timestamp, aware UTC
    data: str  # the data field in clear, without pad ("#1234|1100 01 015")
    xdata: tuple[str, ...]
    raw: str
    lat: float | None = None
    lng: float | None = None

    @property
    def digest(self) -> str:
        """What the message says, apart from when: a retransmission has the same digest."""
        text = f"{self.kind}|{self.data}|{'|'.join(self.xdata)}"
        return f"{zlib.crc32(text.encode('latin-1', 'replace')):08x}"


# ---------------------------------------------------------------------------------------------- framing

_HEX = b"0123456789ABCDEFabcdef"
_TOKEN = re.compile(r'"(\*?)([^"\[\]]{0,24})"')
_HEADER = re.compile(r"(\d{4})(?:R([0-9A-Fa-f]{1,6}))?(?:L([0-9A-Fa-f]{1,6}))?(?:#([0-9A-Fa-f]{3,16}))?\[")


def _is_hex(chunk: bytes | bytearray) -> bool:
    return bool(chunk) and not chunk.translate(None, _HEX)


def frame_end(buf: bytes | bytearray) -> int:
    """Index of the CR that ends the frame starting at buf[0] (an LF), or -1 while it is incomplete.

    The message itself is ASCII, so the first CR after the header ends it; only a raw-byte CRC may hold a
    CR, and it sits before the header.
    """
    if len(buf) >= 8 and buf[7] == QUOTE and _is_hex(buf[3:7]):
        return buf.find(b"\r", 7)
    if len(buf) >= 10 and buf[9] == QUOTE and _is_hex(buf[1:9]):
        return buf.find(b"\r", 9)
    if len(buf) < 10:
        return -1
    return buf.find(b"\r", 1)  # not a DC-09 header: cut at the next CR and let the parser reject it


def split_stream(buf: bytearray) -> list[bytes]:
    """Take every complete frame out of a TCP stream buffer; bytes before a frame's LF are dropped."""
    frames = []
    while True:
        start = buf.find(b"\n")
        if start < 0:
            return frames
        if start:
            del buf[:start]
        end = frame_end(buf)
        if end < 0:
            return frames
        frames.append(bytes(buf[: end + 1]))
        del buf[: end + 1]


def read_frame(raw: bytes) -> Frame | Rejection:
    """Check framing, length and CRC, and read the header."""
    if len(raw) < 12 or raw[0] != LF or raw[-1] != CR:
        return Rejection("framing", "none", "not LF … CR")
    if raw[7] == QUOTE and _is_hex(raw[3:7]):  # CRC as 2 raw bytes
        sent_crc, length, message = (raw[1] << 8) | raw[2], raw[3:7], raw[7:-1]
    elif raw[9] == QUOTE and _is_hex(raw[1:9]):
        sent_crc, length, message = int(raw[1:5], 16), raw[5:9], raw[9:-1]
    else:
        return Rejection("framing", "none", "no CRC and length before the id")
    if int(length, 16) != len(message):
        return Rejection("length", "none", f"length field {int(length, 16)}, message {len(message)}")
    if crc16(message) != sent_crc:
        return Rejection("crc", "none", "CRC mismatch")
    try:
        text = message.decode("ascii")
    except UnicodeDecodeError:
        return Rejection("framing", "none", "message is not ASCII")
    # The stored copy shows a raw-byte CRC in hex: it may hold bytes (NUL) a text column refuses.
    return _read_header(text, f"{sent_crc:04X}{length.decode()}{text}")


def _read_header(text: str, raw: str) -> Frame | Rejection:
    token = _TOKEN.match(text)
    if token is None:
        return Rejection("format", "duh", "no id token")
    header = _HEADER.match(text, token.end())
    if header is None:
        partial = Frame(token[2], bool(token[1]), "0000", None, "0", None, "", raw)
        return Rejection("format", "duh", "unreadable header", partial)
    seq, receiver, prefix, account = header.groups()
    frame = Frame(token[2], bool(token[1]), seq, receiver, prefix or "0", account, text[header.end():], raw)
    if frame.kind not in SUPPORTED_IDS:
        return Rejection("unsupported", "duh", f"id {frame.kind!r}", frame)
    return frame


# ------------------------------------------------------------------------------------------- encryption


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(bytes(16)))


def encrypt(plain: str, key: bytes) -> str:
    """Pad with random characters and "|" to a multiple of 16 bytes, encrypt, hex (upper case)."""
    pad = secrets.token_hex(8)[: 16 - (len(plain) + 1) % 16]  # 1 to 16 characters, none of them "|"
    encryptor = _cipher(key).encryptor()
    return (encryptor.update(f"{pad}|{plain}".encode("ascii")) + encryptor.finalize()).hex().upper()


def decrypt(hex_text: str, key: bytes) -> str | None:
    """The plaintext after the pad and its "|", or None when it does not decrypt to that."""
    if len(key) not in (16, 24, 32) or not hex_text or len(hex_text) % 32 or not _is_hex(hex_text.encode()):
        return None
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(bytes.fromhex(hex_text)) + decryptor.finalize()
    _pad, bar, rest = plain.partition(b"|")
    if not bar:
        return None
    try:
        return rest.decode("ascii")
    except UnicodeDecodeError:
        return None


# ----------------------------------------------------------------------------------------------- decode

_TIMESTAMP = re.compile(r"_(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})")


def parse_timestamp(text: str) -> datetime | None:
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    hour, minute, second, month, day, year = map(int, match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


def format_timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("_%H:%M:%S,%m-%d-%Y")


def _split_body(body: str) -> tuple[str, tuple[str, ...], str] | None:
    """data "]" ("[" xdata "]")* [timestamp] → (data, xdata, timestamp text)."""
    data, bracket, rest = body.partition("]")
    if not bracket or "[" in data:
        return None
    xdata = []
    while rest.startswith("["):
        item, bracket, rest = rest[1:].partition("]")
        if not bracket or "[" in item:
            return None
        xdata.append(item)
    return data, tuple(xdata), rest


def decode(frame: Frame, key: bytes | None, *, now: datetime,
           window: tuple[float, float] = DEFAULT_WINDOW) -> Message | Rejection:
    """Decrypt (when the frame is), check the timestamp and read the data of a checked frame."""
    if frame.encrypted:
        if key is None:
            return Rejection("no_key", "nak", "encrypted message, no key for the account", frame)
        body = decrypt(frame.body, key)
        if body is None:
            return Rejection("decrypt", "nak", "does not decrypt with the account's key", frame)
    else:
        body = frame.body
    parts = _split_body(body)
    if parts is None:
        return Rejection("format", "duh", "unreadable data", frame)
    data, xdata, stamp = parts
    occurred_at = None
    if stamp:
        occurred_at = parse_timestamp(stamp)
        if occurred_at is None:
            return Rejection("timestamp", "nak", f"unreadable timestamp {stamp!r}", frame)
        if not now - timedelta(seconds=window[0]) <= occurred_at <= now + timedelta(seconds=window[1]):
            return Rejection("timestamp", "nak", f"timestamp {stamp} outside the window at {now:%H:%M:%S}", frame)
    elif frame.encrypted:
        return Rejection("timestamp", "nak", "encrypted message without timestamp", frame)
    return _content(frame, data, xdata, occurred_at)


def _content(frame: Frame, data: str, xdata: tuple[str, ...], occurred_at: datetime | None) -> Message | Rejection:
    account, text = _data_account(data)
    if account is False:
        return Rejection("format", "duh", "unreadable account in the data", frame)
    if frame.kind == "NULL":
        event: _Event | None = _Event("heartbeat", None, None, None, None)
    elif frame.kind == "ADM-CID":
        event = _contact_id(text)
    else:
        event = _sia(text)
    if event is None:
        return Rejection("format", "duh", f"unreadable {frame.kind} data {data!r}", frame)
    lat, lng = _location(xdata)
    return Message(frame.kind, frame.encrypted, frame.seq, frame.receiver, frame.prefix,
                   frame.account or account or None, event.type, event.code, event.qualifier, event.partition,
                   event.zone, occurred_at, data, xdata, frame.raw, lat, lng)


_DATA_ACCOUNT = re.compile(r"#([0-9A-Fa-f]{3,16})\|")


def _data_account(data: str) -> tuple[str | Literal[False] | None, str]:
    if not data.startswith("#"):
        return None, data
    match = _DATA_ACCOUNT.match(data)
    if match is None:
        return False, data
    return match[1], data[match.end():]


def parse(raw: bytes, key_for: Callable[[str], bytes | None] | None = None, *, now: datetime | None = None,
          window: tuple[float, float] = DEFAULT_WINDOW) -> Message | Rejection:
    """read_frame + decode in one call; `key_for(account)` gives the account's AES key, if any."""
    frame = read_frame(raw)
    if isinstance(frame, Rejection):
        return frame
    key = key_for(frame.account) if key_for is not None and frame.account else None
    return decode(frame, key, now=now or datetime.now(UTC), window=window)


# --------------------------------------------------------------------------------------- codes → events

QUALIFIERS = {"1": "new", "3": "restore", "6": "status"}


@dataclass(frozen=True, slots=True)
class _Event:
    type: str
    code: str | None
    qualifier: str | None
    partition: str | None
    zone: str | None


def _codes(type_: str, *codes: str | range) -> dict[str, str]:
    table = {}
    for code in codes:
        for item in (code,) if isinstance(code, str) else (f"{number:03d}" for number in code):
            table[item] = type_
    return table


CONTACT_ID: dict[str, str] = {
    **_codes("sos", "100", "101", range(120, 130)),
    **_codes("no_activity", "102", "641", "654"),
    **_codes("smoke", range(110, 119)),
    **_codes("gas", "151", "162"),
    **_codes("water", "154"),
    **_codes("power_loss", "301", "312", "337", "342"),
    **_codes("low_battery", "302", "309", "311", "338", "384"),
    **_codes("device_removed", "137", "144", "145", "383"),
    **_codes("cancel", "406"),
    **_codes("test", "601", "602", "604", "607", "608", "611"),
    **_codes("heartbeat", "603"),
}
_CID_CLASS = {"1": "sos", "2": "device_removed", "3": "device_removed"}  # others: heartbeat


def cid_event(qualifier: str, code: str) -> tuple[str, str]:
    """Contact ID qualifier digit and event code → (event type, qualifier word)."""
    type_ = CONTACT_ID.get(code) or _CID_CLASS.get(code[:1], "heartbeat")
    return type_, QUALIFIERS.get(qualifier, "new")


# SIA code → (event type, restore?)
SIA: dict[str, tuple[str, bool]] = {
    **dict.fromkeys(("MA", "QA", "PA", "HA"), ("sos", False)),
    **dict.fromkeys(("MH", "QH", "PH", "HH"), ("sos", True)),
    "NA": ("no_activity", False), "NS": ("no_activity", True),
    **dict.fromkeys(("FA", "KA", "SA"), ("smoke", False)),
    **dict.fromkeys(("FH", "KH", "SH"), ("smoke", True)),
    "GA": ("gas", False), "GH": ("gas", True),
    "WA": ("water", False), "WH": ("water", True),
    "AT": ("power_loss", False), "YP": ("power_loss", False), "AR": ("power_loss", True),
    "YQ": ("power_loss", True),
    **dict.fromkeys(("YT", "YM", "XT"), ("low_battery", False)),
    **dict.fromkeys(("YR", "XR"), ("low_battery", True)),
    "TA": ("device_removed", False), "JA": ("device_removed", False), "TR": ("device_removed", True),
    "YC": ("device_removed", False), "YX": ("device_removed", False), "YK": ("device_removed", True),
    "YZ": ("device_removed", True),
    "OC": ("cancel", False), "BC": ("cancel", False),
    **dict.fromkeys(("RP", "RX", "RY", "TX", "FX"), ("test", False)),
}
_SIA_CLASS = {"A": ("sos", False), "H": ("sos", True), "T": ("device_removed", False),
              "S": ("device_removed", False), "J": ("device_removed", True), "R": ("device_removed", True),
              "K": ("device_removed", True)}


def sia_event(code: str) -> tuple[str, str]:
    """SIA event code → (event type, qualifier word)."""
    type_, restore = SIA.get(code) or _SIA_CLASS.get(code[1:2], ("heartbeat", False))
    return type_, "restore" if restore else "new"


# When one SIA message reports several events, the most urgent one is the message's event.
_URGENCY = ("sos", "fall", "smoke", "gas", "no_activity", "water", "cancel", "power_loss", "low_battery",
            "device_removed", "test", "heartbeat")


def _rank(event: _Event) -> tuple[bool, int]:
    return event.qualifier == "restore", _URGENCY.index(event.type)


_CONTACT_ID = re.compile(r"([136])([0-9A-Fa-f]{3}) ([0-9A-Fa-f]{2}) ([0-9A-Fa-f]{3})")


def _contact_id(text: str) -> _Event | None:
    match = _CONTACT_ID.fullmatch(text)
    if match is None:
        return None
    qualifier, code, partition, zone = match.groups()
    type_, word = cid_event(qualifier, code.upper())
    return _Event(type_, code.upper(), word, partition.upper(), zone.upper())


_SIA_MODIFIER = re.compile(r"(ri|id|pi|ti)([0-9:]{0,8})")
_SIA_CODE = re.compile(r"([A-Z]{2})([0-9]{0,8})")


def _sia(text: str) -> _Event | None:
    """SIA data: ``N`` (new event) or ``O`` (old), modifiers (``ri`` area, ``id`` user, ``ti`` time, ``pi``)
    and events (code + address, then free text), blocks separated by "/" or not: ``Nri1/MA101``,
    ``Nri1BA012``, ``Nid3/ri2/OP3^text^``, ``Nri1/BA01/BA02``. The leading N/O is optional (``NL2`` is
    code ``NL``)."""
    events = _sia_events(text[1:]) if text[:1] in ("N", "O") else []
    events = events or _sia_events(text)
    return min(events, key=_rank) if events else None


def _sia_events(text: str) -> list[_Event]:
    events: list[_Event] = []
    area, at = None, 0
    while at < len(text):
        if text[at] == "/":
            at += 1
        elif modifier := _SIA_MODIFIER.match(text, at):
            area = modifier[2] if modifier[1] == "ri" else area
            at = modifier.end()
        else:
            code = _SIA_CODE.match(text, at)
            if code is not None:
                type_, word = sia_event(code[1])
                events.append(_Event(type_, code[1], word, area, code[2] or None))
            slash = text.find("/", at)
            at = len(text) if slash < 0 else slash  # the rest of the block is free text
    return events


_DEGREES = re.compile(r"([XY])([NSEW+-]?)(\d{1,3}(?:\.\d{1,9})?)([NSEW]?)")
_DEGREES_MINUTES = re.compile(r"([XY])(\d{1,3})([NSEW])(\d{1,2}(?:\.\d{1,9})?)")


def _coordinate(item: str) -> tuple[str, float] | None:
    """An X (longitude) or Y (latitude) xdata: ``X111.6708``, ``XE111.6708``, ``Y-40.8``, or degrees,
    hemisphere and minutes: ``X012W34.1``."""
    if match := _DEGREES_MINUTES.fullmatch(item):
        value, hemisphere = int(match[2]) + float(match[4]) / 60, match[3]
    elif match := _DEGREES.fullmatch(item):
        value, hemisphere = float(match[3]), match[2] or match[4]
    else:
        return None
    return item[0], -value if hemisphere in ("S", "W", "-") else value


def _location(xdata: tuple[str, ...]) -> tuple[float | None, float | None]:
    found = dict(filter(None, map(_coordinate, xdata)))
    lat, lng = found.get("Y"), found.get("X")
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180) or lat == lng == 0:
        return None, None
    return lat, lng


# ----------------------------------------------------------------------------------------------- build


def wrap(message: str, *, binary_crc: bool = False) -> bytes:
    """LF + CRC + 0LLL + message + CR."""
    body = message.encode("ascii")
    if len(body) > MAX_MESSAGE:
        raise ValueError(f"DC-09 message of {len(body)} bytes exceeds 0x0FFF")
    crc = crc16(body)
    head = crc.to_bytes(2, "big") if binary_crc else f"{crc:04X}".encode()
    return b"\n" + head + f"{len(body):04X}".encode() + body + b"\r"


def build_message(token: str, seq: int | str, data: str = "", *, account: str | None = None,
                  receiver: str | None = None, prefix: str = "0", xdata: tuple[str, ...] = (),
                  timestamp: datetime | None = None, key: bytes | None = None) -> str:
    """The message text (quote of the id … timestamp); encrypted with `key`, which then needs a timestamp."""
    seq_text = f"{int(seq):04d}" if isinstance(seq, int) else seq
    head = f'"{"*" if key else ""}{token}"{seq_text}'
    head += (f"R{receiver}" if receiver is not None else "") + f"L{prefix}" + (f"#{account}" if account else "")
    if key is not None and timestamp is None:
        timestamp = datetime.now(UTC)
    inner = f"{data}]" + "".join(f"[{item}]" for item in xdata)
    inner += format_timestamp(timestamp) if timestamp is not None else ""
    return f"{head}[{encrypt(inner, key) if key is not None else inner}"


def build(token: str, seq: int | str, data: str = "", *, account: str | None = None, receiver: str | None = None,
          prefix: str = "0", xdata: tuple[str, ...] = (), timestamp: datetime | None = None,
          key: bytes | None = None, binary_crc: bool = False) -> bytes:
    """A whole frame, as a transmitter sends it (tests, benchmarks, simulators)."""
    message = build_message(token, seq, data, account=account, receiver=receiver, prefix=prefix, xdata=xdata,
                            timestamp=timestamp, key=key)
    return wrap(message, binary_crc=binary_crc)


def ack(message: Message | Frame, *, key: bytes | None = None, now: datetime | None = None) -> bytes:
    """ACK echoing sequence, receiver, prefix and account; encrypted, with the receiver's time, if the message was."""
    key = key if message.encrypted else None
    return wrap(build_message("ACK", message.seq, account=message.account, receiver=message.receiver,
                              prefix=message.prefix, key=key, timestamp=now if key else None))


def duh(frame: Frame | None) -> bytes:
    if frame is None:
        return wrap('"DUH"0000L0[]')
    return wrap(build_message("DUH", frame.seq, account=frame.account, receiver=frame.receiver,
                              prefix=frame.prefix))


def nak(now: datetime) -> bytes:
    """NAK with the receiver's time, so that the sender can set its clock; never encrypted."""
    return wrap(f'"NAK"0000R0L0A0[]{format_timestamp(now)}')


def answer_for(rejection: Rejection, now: datetime) -> bytes | None:
    if rejection.reply == "nak":
        return nak(now)
    if rejection.reply == "duh":
        return duh(rejection.frame)
    return None


def idempotency_key(message: Message, first_seen: datetime) -> str:
    """``<account>:<seq>:R<rcvr>:L<pref>:<when>:<digest>`` — see the receiver for how repeats map to it.

    `when` is the message's timestamp (``YYYYMMDDTHHMMSSZ``) or, for a message without one, ``rx`` + the time
    the first copy was received; `digest` tells apart different messages sent with the same sequence number
    (devices that never advance it, or that restart at 0001).
    """
    when = (f"{message.occurred_at:%Y%m%dT%H%M%SZ}" if message.occurred_at is not None
            else f"rx{first_seen.astimezone(UTC):%Y%m%dT%H%M%SZ}")
    return f"{message.account or ''}:{message.seq}:R{message.receiver or ''}:L{message.prefix}:{when}:{message.digest}"
