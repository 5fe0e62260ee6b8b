"""The GPS-watch protocol parser: frames built per the protocol, good and bad, and random ones (hypothesis)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eldercare.devices.watch import (
    FrameSplitter,
    WatchProtocolError,
    build_frame,
    decode,
    parse_frame,
)

NOW = datetime(2024, 5, 6, 7, 8, 30, tzinfo=UTC)
WATCH = "8800000015"
FRAME_SHAPE = re.compile(rb"\[([0-9A-Za-z]{2})\*([0-9A-Za-z]{1,20})\*(?:[0-9A-Fa-f]{4}\*)?([0-9A-Fa-f]{4})\*(.*)\]",
                         re.S)


def report(command: str = "UD", *, status: str = "00000000", fix: str = "A", lat: str = "40.842150",
           ns: str = "N", lng: str = "111.749810", ew: str = "E", when: str = "060524,070800",
           battery: str = "85") -> str:
    return (f"{command},{when},{fix},{lat},{ns},{lng},{ew},0.00,0.0,0.0,7,100,{battery},1200,0,{status},"
            "1,1,460,0,9336,3981,141,0,65.8")


def message(content: str, maker: str = "SG", watch_id: str = WATCH, received_at: datetime = NOW):
    return decode(parse_frame(build_frame(maker, watch_id, content)), received_at)


def types(content: str) -> list[str]:
    return [event.type for event in message(content).events]


# --- LK -----------------------------------------------------------------------------------------------

def test_lk_is_a_heartbeat_with_battery_answered_with_lk():
    msg = message("LK,0,0,85")
    assert msg.command == "LK" and msg.battery_pct == 85 and msg.location is None
    assert [event.type for event in msg.events] == ["heartbeat"]
    assert msg.reply == b"[SG*8800000015*0002*LK]"


def test_bare_lk_is_answered_and_has_no_battery():
    msg = message("LK", maker="3G")
    assert msg.battery_pct is None and msg.reply == b"[3G*8800000015*0002*LK]"


def test_lk_with_an_unreadable_battery_is_still_a_heartbeat():
    assert message("LK,0,0,x").battery_pct is None
    assert message("LK,0,0,101").battery_pct is None
    assert types("LK,0,0") == ["heartbeat"]


# --- UD / UD2 ----------------------------------------------------------------------------------------

def test_ud_with_a_fix_is_a_position_heartbeat_and_not_answered():
    msg = message(report("UD"))
    assert msg.reply is None
    assert msg.location is not None and (msg.location.lat, msg.location.lng) == (40.84215, 111.74981)
    assert msg.device_time == datetime(2024, 5, 6, 7, 8, 0, tzinfo=UTC)
    assert msg.battery_pct == 85 and msg.status == 0
    assert [event.type for event in msg.events] == ["heartbeat"]


def test_south_and_west_are_negative():
    msg = message(report("UD2", lat="33.868820", ns="S", lng="151.209290", ew="W"))
    assert msg.location is not None and (msg.location.lat, msg.location.lng) == (-33.86882, -151.20929)


@pytest.mark.parametrize(("fix", "lat", "lng"), [
    ("V", "40.842150", "111.749810"),  # no fix: the coordinates are stale
    ("A", "0.000000", "0.000000"),
    ("A", "00.000000", " 0.0000000"),
    ("A", "", ""),
    ("A", "91.5", "111.7"),
    ("A", "nan", "inf"),
])
def test_ud_without_a_usable_fix_has_no_location(fix, lat, lng):
    msg = message(report("UD", fix=fix, lat=lat, lng=lng))
    assert msg.location is None and [event.type for event in msg.events] == ["heartbeat"]


def test_ud_with_a_truncated_body_is_rejected():
    with pytest.raises(WatchProtocolError):
        message("UD,060524,070800,A,40.8,N")
    with pytest.raises(WatchProtocolError):
        message(report("UD", status="zz"))


def test_ud_carrying_an_alarm_bit_yields_the_alarm_without_a_reply():
    msg = message(report("UD", status="00010000"))
    assert [event.type for event in msg.events] == ["sos"] and msg.reply is None


# --- AL ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "expected"), [
    ("00010000", ["sos"]),
    ("00200000", ["fall"]),
    ("00400000", ["fall"]),
    ("00600000", ["fall"]),
    ("00020000", ["low_battery"]),
    ("00100000", ["device_removed"]),
    ("00100008", ["device_removed"]),
    ("00370000", ["sos", "fall", "device_removed", "low_battery"]),
    ("00000001", ["low_battery"]),      # no alarm bit: the state bits say why
    ("00000008", ["device_removed"]),
    ("00040000", ["heartbeat"]),        # left a geofence: no such event type, a position update
    ("00000000", ["sos"]),              # an alarm with no known cause is still an alarm
    ("00000010", ["sos"]),
])
def test_alarm_bits(status, expected):
    msg = message(report("AL", status=status))
    assert [event.type for event in msg.events] == expected
    assert msg.reply == b"[SG*8800000015*0002*AL]"
    assert all(event.code == status.upper() for event in msg.events)


def test_an_alarm_without_a_fix_is_still_an_alarm():
    msg = message(report("AL", status="00010000", fix="V", lat="0.0", lng="0.0"))
    assert msg.location is None and [event.type for event in msg.events] == ["sos"]
    assert msg.reply is not None


def test_an_alarm_with_an_unreadable_body_is_still_an_alarm():
    msg = message("AL,garbage")
    assert [event.type for event in msg.events] == ["sos"] and msg.reply is not None
    assert msg.device_time is None


def test_alarm_events_carry_location_battery_and_time():
    msg = message(report("AL", status="00210000", battery="12"))
    assert msg.battery_pct == 12 and msg.location is not None
    assert "fall alarm" in (msg.events[0].detail or "")


def test_raw_text_is_printable_whatever_the_frame_carries():
    content = report("AL", status="00010000").encode() + b",\x00wifi\xe4\xb8\xad"
    msg = decode(parse_frame(b"[SG*8800000015*%04X*" % len(content) + content + b"]"), NOW)
    assert [event.type for event in msg.events] == ["sos"]
    assert msg.raw.isprintable() and msg.raw.isascii() and msg.raw.endswith("\\x00wifi\\xe4\\xb8\\xad]")


def test_alarm_variants_are_answered_al():
    msg = message(report("AL_LTE", status="00010000"), maker="3G")
    assert msg.reply == b"[3G*8800000015*0002*AL]" and [event.type for event in msg.events] == ["sos"]


# --- idempotency keys and time -----------------------------------------------------------------------

def test_a_resent_alarm_has_the_same_keys_and_a_new_one_does_not():
    first = message(report("AL", status="00210000"))
    resent = message(report("AL", status="00210000"), received_at=NOW + timedelta(seconds=40))
    later = message(report("AL", status="00210000", when="060524,070900"))
    assert [e.idempotency_key for e in first.events] == [e.idempotency_key for e in resent.events]
    assert first.events[0].idempotency_key == "sos:20240506T070800Z:00210000"
    assert len({e.idempotency_key for e in first.events}) == 2
    assert not {e.idempotency_key for e in first.events} & {e.idempotency_key for e in later.events}


def test_the_same_alarm_in_al_and_ud_is_one_event():
    al = message(report("AL", status="00010000"))
    ud = message(report("UD", status="00010000"))
    assert al.events[0].idempotency_key == ud.events[0].idempotency_key


@pytest.mark.parametrize("when", ["010100,000012", "000000,000000", "320124,250000", "060530,070800"])
def test_an_untrusted_device_time_is_dropped_and_the_key_uses_the_reception_minute(when):
    msg = message(report("AL", status="00010000", when=when))
    assert msg.device_time is None
    assert msg.events[0].idempotency_key == "sos:rx20240506T0708Z:00010000"


def test_device_time_is_utc():
    msg = message(report("UD", when="311223,235959"))
    assert msg.device_time == datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_lk_keys_are_per_second_of_reception():
    a = message("LK,0,0,85").events[0].idempotency_key
    b = message("LK,0,0,80", received_at=NOW + timedelta(microseconds=1)).events[0].idempotency_key
    c = message("LK,0,0,80", received_at=NOW + timedelta(seconds=1)).events[0].idempotency_key
    assert a == b != c


# --- framing -----------------------------------------------------------------------------------------

def test_length_mismatch_is_rejected():
    with pytest.raises(WatchProtocolError, match="length"):
        parse_frame(b"[SG*8800000015*0003*LK]")
    with pytest.raises(WatchProtocolError, match="length"):
        parse_frame(b"[SG*8800000015*000C*LK,0,0,85]")


def test_length_in_either_case_and_maker_codes_in_either_case():
    raw = build_frame("SG", WATCH, report("AL", status="00010000"))
    lower = raw[:15] + raw[15:19].lower() + raw[19:]
    assert parse_frame(lower).content == parse_frame(raw).content
    for maker in ("sg", "3g", "Cs", "ZJ"):
        msg = message("lk", maker=maker)
        assert msg.command == "LK" and msg.reply == f"[{maker}*{WATCH}*0002*LK]".encode()


def test_fifteen_digit_ids_and_sequence_numbers_are_echoed():
    raw = b"[ZJ*014111001332708*0075*0064*AL,040418,052156,A,22.536207,N,113.938673,E,0,0,0,5,100,82,1000,50," \
          b"00100000,1,255,460,0,9340,3663,35]"
    msg = decode(parse_frame(raw), datetime(2018, 4, 4, 5, 22, tzinfo=UTC))
    assert msg.watch_id == "014111001332708" and [event.type for event in msg.events] == ["device_removed"]
    assert msg.reply == b"[ZJ*014111001332708*0075*0002*AL]"


@pytest.mark.parametrize("raw", [
    b"[SG*8800000015*0002*LK", b"SG*8800000015*0002*LK]", b"[SGX*8800000015*0002*LK]", b"[SG**0002*LK]",
    b"[SG*8800000015*02*LK]", b"[SG*8800000015*00G2*LK]", b"[SG*88000000-5*0002*LK]", b"[]", b"[SG*1*0002*L[]",
])
def test_malformed_frames_are_rejected(raw):
    with pytest.raises(WatchProtocolError):
        parse_frame(raw)


def test_unknown_commands_and_escaped_voice_are_valid_and_ignored():
    voice = b"TK,#!AMR\x7d\x01\x7d\x03\x7d\x02\x00\xff"
    for length in (len(voice), len(voice) - 3):  # firmwares count escaped or unescaped bytes
        raw = b"[3G*8800000015*%04X*" % length + voice + b"]"
        msg = decode(parse_frame(raw), NOW)
        assert msg.command == "TK" and msg.events == () and msg.reply is None
    assert message("TKQ").events == ()
    assert decode(parse_frame(b"[SG*8800000015*0002*\xc3\xa9]"), NOW).command == ""


def test_split_and_joined_frames():
    frames = [build_frame("SG", WATCH, "LK,0,0,85"), build_frame("3G", "1234567890", report("AL")),
              build_frame("CS", WATCH, report("UD2"))]
    stream = b"\r\n".join(frames) + b"\r\n"
    splitter = FrameSplitter()
    assert [f for byte in range(len(stream)) for f in splitter.feed(stream[byte:byte + 1])] == frames
    splitter = FrameSplitter()
    assert splitter.feed(stream * 3) == frames * 3 and not splitter.overflow


def test_a_cut_frame_is_dropped_and_the_next_one_found():
    good = build_frame("SG", WATCH, "LK")
    splitter = FrameSplitter()
    assert splitter.feed(b"noise[SG*8800000015*00") == []
    assert splitter.feed(good[:5]) == []
    assert splitter.feed(good[5:] + b"[SG*88") == [good]
    assert splitter.feed(b"00000015*0002*LK]") == [b"[SG*8800000015*0002*LK]"]


def test_oversized_frames_and_endless_junk_overflow():
    splitter = FrameSplitter(max_frame=64)
    assert splitter.feed(b"[" + b"x" * 40) == [] and not splitter.overflow
    splitter.feed(b"x" * 40)
    assert splitter.overflow and splitter.feed(build_frame("SG", WATCH, "LK")) == []

    splitter = FrameSplitter(max_frame=64)
    splitter.feed(b"[" + b"x" * 70 + b"]")
    assert splitter.overflow

    splitter = FrameSplitter(max_frame=64)
    for _ in range(10):
        splitter.feed(b"junk junk ")
    assert splitter.overflow


# --- random and mutated frames -----------------------------------------------------------------------

FIELD = st.text(alphabet="0123456789ABCDEFNSWVx.- ", max_size=12)
COMMANDS = st.sampled_from(["LK", "UD", "UD2", "AL", "AL_LTE", "TK", "lk", "al", "WT", "", "A"])
VALID_REPORT = st.builds(
    report, command=st.sampled_from(["UD", "UD2", "AL"]),
    status=st.integers(0, 2**32 - 1).map("{:08X}".format), fix=st.sampled_from("AV"),
    lat=st.floats(-90, 90).map("{:.6f}".format), lng=st.floats(-180, 180).map("{:.6f}".format),
    ns=st.sampled_from("NS"), ew=st.sampled_from("EW"), battery=st.integers(0, 100).map(str))


def handle(raw: bytes) -> tuple[bool, list]:
    """What the receiver does with one frame: (valid, events); only WatchProtocolError may come out."""
    try:
        msg = decode(parse_frame(raw), NOW)
    except WatchProtocolError:
        return False, []
    return True, list(msg.events)


def length_consistent(raw: bytes) -> bool:
    match = FRAME_SHAPE.fullmatch(raw)
    return match is not None and int(match.group(3), 16) == len(match.group(4))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(1, 64))
def test_random_bytes_never_raise_and_yield_no_events(data, chunk):
    splitter = FrameSplitter(max_frame=256)
    for start in range(0, len(data), chunk):
        for raw in splitter.feed(data[start:start + chunk]):
            valid, events = handle(raw)
            assert not events or (valid and length_consistent(raw))


@settings(max_examples=1500, deadline=None)
@given(COMMANDS, st.lists(FIELD, max_size=20))
def test_well_framed_random_content_never_raises_and_an_alarm_never_vanishes(command, fields):
    raw = build_frame("SG", WATCH, ",".join([command, *fields]))
    try:
        msg = decode(parse_frame(raw), NOW)
    except WatchProtocolError:
        assert command.upper().startswith("UD")  # only a position report may be unreadable
        return
    if msg.command.startswith("AL"):
        assert msg.events and msg.reply is not None
    if msg.command == "LK":
        assert [event.type for event in msg.events] == ["heartbeat"] and msg.reply is not None
    assert msg.raw.isprintable() and msg.raw.isascii()
    for event in msg.events:
        assert len(event.idempotency_key) <= 128 and event.type in {"sos", "fall", "low_battery",
                                                                    "device_removed", "heartbeat"}
        assert msg.battery_pct is None or 0 <= msg.battery_pct <= 100


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from([b"LK", b"UD", b"AL", b"UD2", b"TK", b""]), st.binary(max_size=200))
def test_binary_content_in_a_well_formed_frame_never_raises(command, body):
    content = (command + b"," + body).replace(b"[", b"(").replace(b"]", b")")
    valid, events = handle(b"[SG*8800000015*%04X*" % len(content) + content + b"]")
    assert valid or command in (b"UD", b"UD2")
    assert bool(events) == (command in (b"LK", b"AL")) or command in (b"UD", b"UD2")


@settings(max_examples=2000, deadline=None)
@given(VALID_REPORT, st.data())
def test_mutated_frames_never_raise_and_a_changed_length_yields_nothing(content, data):
    raw = build_frame("SG", WATCH, content)
    assert handle(raw)[0]
    body_start = raw.index(b"*", raw.index(b"*", 4) + 1) + 1
    at = data.draw(st.integers(body_start, len(raw) - 1))
    kind = data.draw(st.sampled_from(["delete", "insert", "replace"]))
    byte = bytes([data.draw(st.integers(0, 255))])
    if kind == "delete":
        mutated = raw[:at] + raw[at + 1:]
    elif kind == "insert":
        mutated = raw[:at] + byte + raw[at:]
    else:
        mutated = raw[:at] + byte + raw[at + 1:]
    valid, events = handle(mutated)
    if kind != "replace" and b"}" not in mutated:
        assert not valid and not events  # the length field no longer matches
    assert not events or length_consistent(mutated)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALID_REPORT, min_size=1, max_size=8), st.lists(st.integers(1, 200), min_size=1, max_size=30),
       st.binary(max_size=20).filter(lambda junk: b"[" not in junk and b"]" not in junk))
def test_any_chunking_of_a_stream_yields_exactly_its_frames(contents, cuts, junk):
    frames = [build_frame("SG", WATCH, content) for content in contents]
    stream = junk.join(frames)
    splitter, out, pos = FrameSplitter(), [], 0
    for cut in cuts * (len(stream) // sum(cuts) + 1):
        out += splitter.feed(stream[pos:pos + cut])
        pos += cut
    assert out == frames
