"""SIA DC-09 parsing and building (pure): frames built from the standard, vectors from other implementations,
and pysiaalarm as a second opinion."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.utils import ResponseType

from eldercare.devices import dc09
from eldercare.devices.models import EVENT_TYPES

NOW = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
KEYS = {
    128: b"0123456789ABCDEF",
    192: b"0123456789ABCDEF01234567",
    256: b"0123456789ABCDEF0123456789ABCDEF",
}


def parse(frame: bytes, key: bytes | None = None, **options: object) -> dc09.Message | dc09.Rejection:
    return dc09.parse(frame, (lambda _account: key), now=options.pop("now", NOW), **options)  # type: ignore[arg-type]


def accepted(frame: bytes, key: bytes | None = None, **options: object) -> dc09.Message:
    result = parse(frame, key, **options)
    assert isinstance(result, dc09.Message), result
    return result


def rejected(frame: bytes, key: bytes | None = None, **options: object) -> dc09.Rejection:
    result = parse(frame, key, **options)
    assert isinstance(result, dc09.Rejection), result
    return result


# ------------------------------------------------------------------------------------------------- CRC


def test_crc16_arc_check_value():
    assert dc09.crc16(b"123456789") == 0xBB3D
    assert dc09.crc16(b"") == 0


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
def test_crc16_agrees_with_pysiaalarm_bitwise_crc(text):
    assert f"{dc09.crc16(text.encode()):04X}" == SIAEvent._crc_calc(text)


# ------------------------------------------------------------------------------- vectors from elsewhere
# Both frames were produced by an independent implementation (published in the test suite of an open-source
# SIA codec for Ajax panels): a foreign AES implementation and CRC, a pad of zeros before "|", no account
# repeated in the data; the second with receiver, line prefix and location xdata.

FOREIGN_ENCRYPTED = (b'\n05BB0076"*SIA-DCS"7654L0#1111[C07DA1EB73C617857476EE5D79436CEE5E0084485E79EC56B0D5D1F3F6E6'
                     b'48B278050BBCCBC8FE5DCA7E3C80DBDD4945\r')
FOREIGN_PLAIN = (b'\n73580056"SIA-DCS"0002R1L232#78919[#78919|Nri1/BA012][X012W34.1][Y045N12.2]'
                 b'_14:12:04,09-25-2026\r')


def test_foreign_encrypted_vector():
    message = accepted(FOREIGN_ENCRYPTED, b"A" * 16, now=datetime(2020, 7, 9, 16, 4, 10, tzinfo=UTC))
    assert (message.kind, message.encrypted, message.seq, message.account) == ("SIA-DCS", True, "7654", "1111")
    assert (message.code, message.zone, message.partition, message.event_type) == ("WA", "000", "1", "water")
    assert message.occurred_at == datetime(2020, 7, 9, 16, 4, 2, tzinfo=UTC)


def test_foreign_plain_vector_with_location():
    message = accepted(FOREIGN_PLAIN, now=datetime(2026, 9, 25, 14, 12, 4, tzinfo=UTC))
    assert (message.receiver, message.prefix, message.account) == ("1", "232", "78919")
    assert (message.code, message.zone, message.partition) == ("BA", "012", "1")
    assert message.xdata == ("X012W34.1", "Y045N12.2")
    assert message.lat == pytest.approx(45 + 12.2 / 60)
    assert message.lng == pytest.approx(-(12 + 34.1 / 60))
    assert dc09.ack(message) == dc09.wrap('"ACK"0002R1L232#78919[]')


# ------------------------------------------------------------------------------------ frames and fields


def test_contact_id_frame_fields():
    frame = dc09.build("ADM-CID", 42, "#1234|1100 01 015", account="1234", receiver="12", prefix="3",
                       timestamp=NOW)
    assert frame.startswith(b"\n") and frame.endswith(b"\r")
    assert frame[5:9] == f"{len(frame) - 10:04X}".encode()
    message = accepted(frame)
    assert message == dc09.Message(
        kind="ADM-CID", encrypted=False, seq="0042", receiver="12", prefix="3", account="1234",
        event_type="sos", code="100", qualifier="new", partition="01", zone="015", occurred_at=NOW,
        data="#1234|1100 01 015", xdata=(), raw=frame[1:-1].decode())


@pytest.mark.parametrize("bits", sorted(KEYS))
@pytest.mark.parametrize(("kind", "data", "code"), [("ADM-CID", "#5678|1602 00 000", "602"),
                                                    ("SIA-DCS", "#5678|Nri1/MA101", "MA")])
def test_encrypted_round_trip(bits, kind, data, code):
    key = KEYS[bits]
    frame = dc09.build(kind, 7, data, account="5678", key=key, timestamp=NOW)
    assert frame[9:11] == b'"*'
    body = frame.split(b"[", 1)[1][:-1]
    assert len(body) % 32 == 0 and bytes.fromhex(body.decode())  # hex of whole AES blocks
    message = accepted(frame, key)
    assert (message.encrypted, message.code, message.data, message.occurred_at) == (True, code, data, NOW)


def test_binary_crc_variant():
    frame = dc09.build("SIA-DCS", 3, "#1234|Nri1/FA2", account="1234", binary_crc=True)
    assert frame[3:7] == f"{len(frame) - 8:04X}".encode() and frame[7:8] == b'"'
    assert accepted(frame).event_type == "smoke"


def test_raw_copy_shows_a_raw_byte_crc_in_hex():
    seq = next(n for n in range(10_000) if 0 in dc09.build("NULL", n, account="1234", binary_crc=True)[1:3])
    frame = dc09.build("NULL", seq, account="1234", binary_crc=True)
    message = accepted(frame)
    assert "\x00" not in message.raw
    assert message.raw == f"{int.from_bytes(frame[1:3], 'big'):04X}" + frame[3:-1].decode()


def test_null_poll_with_and_without_account():
    assert accepted(dc09.build("NULL", 0)).account is None
    message = accepted(dc09.build("NULL", 5, account="1234", timestamp=NOW))
    assert (message.event_type, message.account, message.code) == ("heartbeat", "1234", None)
    encrypted = accepted(dc09.build("NULL", 6, account="1234", key=KEYS[128], timestamp=NOW), KEYS[128])
    assert encrypted.encrypted and encrypted.event_type == "heartbeat"


def test_xdata_and_account_only_in_header():
    message = accepted(dc09.build("SIA-DCS", 9, "Nri2/GA7", account="ABC", xdata=("X111.6708", "Y40.8183"),
                                  timestamp=NOW))
    assert (message.account, message.code, message.partition, message.zone) == ("ABC", "GA", "2", "7")
    assert (message.lat, message.lng) == (40.8183, 111.6708)


# ------------------------------------------------------------------------------------- rejected frames


def test_length_mismatch_gets_no_answer():
    frame = dc09.build("ADM-CID", 1, "#1234|1100 01 015", account="1234")
    wrong = frame[:5] + f"{len(frame) - 9:04X}".encode() + frame[9:]
    result = rejected(wrong)
    assert (result.reason, result.reply) == ("length", "none")
    assert dc09.answer_for(result, NOW) is None


def test_crc_mismatch_gets_no_answer():
    frame = bytearray(dc09.build("ADM-CID", 1, "#1234|1100 01 015", account="1234"))
    frame[-3] = ord("4")  # zone 015 → 014
    assert (rejected(bytes(frame)).reason, rejected(bytes(frame)).reply) == ("crc", "none")


@pytest.mark.parametrize("raw", [b"", b"\r", b"\n\r", b"hello world\r\n", b"\nFFFF0010garbagegarbage\r",
                                 b'\nABCD0004"NULL"0000L0[]', b"\n" + b"9" * 40 + b"\r"])
def test_garbage_is_framing_error(raw):
    assert rejected(raw).reply == "none"


def test_unsupported_id_gets_duh_echoing_the_header():
    result = rejected(dc09.build("ACR-SF", 17, "#1234|whatever", account="1234", receiver="5", prefix="2"))
    assert (result.reason, result.reply) == ("unsupported", "duh")
    assert dc09.answer_for(result, NOW) == dc09.wrap('"DUH"0017R5L2#1234[]')


def test_unreadable_data_gets_duh():
    assert rejected(dc09.build("ADM-CID", 1, "#1234|not contact id", account="1234")).reply == "duh"
    assert rejected(dc09.build("SIA-DCS", 1, "#1234|no code here", account="1234")).reply == "duh"


@pytest.mark.parametrize(("offset", "ok"), [(-39, True), (-40, True), (-41, False), (19, True), (20, True),
                                            (21, False), (-3600, False)])
def test_timestamp_window(offset, ok):
    frame = dc09.build("SIA-DCS", 1, "#1234|Nri1/MA1", account="1234", timestamp=NOW + timedelta(seconds=offset))
    result = parse(frame)
    assert isinstance(result, dc09.Message) is ok
    if not ok:
        assert (result.reason, result.reply) == ("timestamp", "nak")


def test_timestamp_window_is_configurable():
    frame = dc09.build("SIA-DCS", 1, "#1234|Nri1/MA1", account="1234", timestamp=NOW - timedelta(seconds=30))
    assert rejected(frame, window=(10, 5)).reason == "timestamp"
    assert accepted(frame, window=(60, 5)).occurred_at == NOW - timedelta(seconds=30)


def test_unreadable_timestamp_gets_nak():
    frame = dc09.wrap('"SIA-DCS"0001L0#1234[#1234|Nri1/MA1]_25:61:00,13-40-2026')
    assert rejected(frame).reply == "nak"


def test_plain_message_without_timestamp_is_accepted():
    assert accepted(dc09.build("SIA-DCS", 1, "#1234|Nri1/MA1", account="1234")).occurred_at is None


def test_encrypted_message_must_carry_a_timestamp():
    body = dc09.encrypt("#1234|Nri1/MA1]", KEYS[128])
    result = rejected(dc09.wrap(f'"*SIA-DCS"0001L0#1234[{body}'), KEYS[128])
    assert (result.reason, result.reply) == ("timestamp", "nak")


def test_wrong_or_missing_key_gets_nak():
    frame = dc09.build("SIA-DCS", 1, "#1234|Nri1/MA1", account="1234", key=KEYS[128], timestamp=NOW)
    assert (rejected(frame, KEYS[256]).reason, rejected(frame, KEYS[256]).reply) == ("decrypt", "nak")
    assert (rejected(frame, None).reason, rejected(frame, None).reply) == ("no_key", "nak")


# --------------------------------------------------------------------------------------------- answers


def test_ack_echoes_the_message():
    message = accepted(dc09.build("ADM-CID", 42, "#1234|1100 01 015", account="1234", receiver="12", prefix="3"))
    assert dc09.ack(message) == dc09.wrap('"ACK"0042R12L3#1234[]')


@pytest.mark.parametrize("bits", sorted(KEYS))
def test_ack_of_an_encrypted_message_is_encrypted_with_the_receiver_time(bits):
    key = KEYS[bits]
    message = accepted(dc09.build("SIA-DCS", 8, "#1234|Nri1/MA1", account="1234", key=key, timestamp=NOW), key)
    later = NOW + timedelta(seconds=1)
    answer = dc09.read_frame(dc09.ack(message, key=key, now=later))
    assert isinstance(answer, dc09.Rejection) and answer.reason == "unsupported"  # "ACK" is no message id
    assert answer.frame is not None
    assert (answer.frame.kind, answer.frame.encrypted, answer.frame.seq, answer.frame.account) == ("ACK", True, "0008",
                                                                                                   "1234")
    assert dc09.decrypt(answer.frame.body, key) == "]" + dc09.format_timestamp(later)


def test_nak_carries_the_receiver_time():
    assert dc09.nak(NOW) == dc09.wrap('"NAK"0000R0L0A0[]_09:26:53,03-14-2026')


def test_duh_without_a_header():
    assert dc09.duh(None) == dc09.wrap('"DUH"0000L0[]')


def test_idempotency_key():
    stamped = accepted(dc09.build("ADM-CID", 42, "#1234|1100 01 015", account="1234", receiver="1", timestamp=NOW))
    key = dc09.idempotency_key(stamped, NOW + timedelta(seconds=3))
    assert key == f"1234:0042:R1:L0:20260314T092653Z:{stamped.digest}"
    unstamped = accepted(dc09.build("ADM-CID", 42, "#1234|1100 01 015", account="1234"))
    assert dc09.idempotency_key(unstamped, NOW).startswith("1234:0042:R:L0:rx20260314T092653Z:")
    other = accepted(dc09.build("ADM-CID", 42, "#1234|1406 01 015", account="1234", receiver="1", timestamp=NOW))
    assert dc09.idempotency_key(other, NOW) != key and len(key) <= 128


# ------------------------------------------------------------------------------------------- TCP stream


def test_split_stream_takes_complete_frames_and_keeps_the_rest():
    first = dc09.build("NULL", 1, account="1234")
    second = dc09.build("SIA-DCS", 2, "#1234|Nri1/MA1", account="1234")
    buffer = bytearray(b"noise" + first + second[:10])
    assert dc09.split_stream(buffer) == [first]
    assert buffer == second[:10]
    buffer += second[10:]
    assert dc09.split_stream(buffer) == [second]
    assert buffer == b""


def test_split_stream_with_cr_and_lf_inside_a_binary_crc():
    for special in (b"\r", b"\n"):
        seq = next(n for n in range(10_000) if special in dc09.build("NULL", n, account="1234", binary_crc=True)[1:3])
        frame = dc09.build("NULL", seq, account="1234", binary_crc=True)
        buffer = bytearray(frame + frame)
        assert dc09.split_stream(buffer) == [frame, frame]
        assert accepted(frame).seq == f"{seq:04d}"


# -------------------------------------------------------------------------------------- codes → events

CID_CASES = [
    ("1", "100", "sos", "new"), ("1", "101", "sos", "new"), ("1", "120", "sos", "new"),
    ("1", "102", "no_activity", "new"), ("1", "641", "no_activity", "new"), ("1", "654", "no_activity", "new"),
    ("1", "110", "smoke", "new"), ("1", "111", "smoke", "new"), ("1", "118", "smoke", "new"),
    ("1", "151", "gas", "new"), ("1", "162", "gas", "new"), ("1", "154", "water", "new"),
    ("1", "301", "power_loss", "new"), ("3", "301", "power_loss", "restore"),
    ("1", "302", "low_battery", "new"), ("1", "309", "low_battery", "new"), ("1", "311", "low_battery", "new"),
    ("1", "384", "low_battery", "new"), ("1", "383", "device_removed", "new"), ("1", "137", "device_removed", "new"),
    ("1", "350", "device_removed", "new"), ("1", "200", "device_removed", "new"),
    ("1", "406", "cancel", "new"), ("1", "602", "test", "new"), ("6", "602", "test", "status"),
    ("1", "603", "heartbeat", "new"), ("1", "130", "sos", "new"), ("3", "100", "sos", "restore"),
    ("1", "401", "heartbeat", "new"), ("3", "401", "heartbeat", "restore"), ("1", "570", "heartbeat", "new"),
]


@pytest.mark.parametrize(("qualifier", "code", "type_", "word"), CID_CASES)
def test_contact_id_mapping(qualifier, code, type_, word):
    assert dc09.cid_event(qualifier, code) == (type_, word)
    message = accepted(dc09.build("ADM-CID", 1, f"#1234|{qualifier}{code} 01 007", account="1234"))
    assert (message.event_type, message.qualifier, message.code, message.zone) == (type_, word, code, "007")


SIA_CASES = [
    ("MA", "sos", "new"), ("MH", "sos", "restore"), ("PA", "sos", "new"), ("QA", "sos", "new"),
    ("HA", "sos", "new"), ("BA", "sos", "new"), ("UA", "sos", "new"), ("FA", "smoke", "new"),
    ("FH", "smoke", "restore"), ("KA", "smoke", "new"), ("GA", "gas", "new"), ("WA", "water", "new"),
    ("NA", "no_activity", "new"), ("AT", "power_loss", "new"), ("AR", "power_loss", "restore"),
    ("YT", "low_battery", "new"), ("YR", "low_battery", "restore"), ("XT", "low_battery", "new"),
    ("TA", "device_removed", "new"), ("TR", "device_removed", "restore"), ("YC", "device_removed", "new"),
    ("YK", "device_removed", "restore"), ("OC", "cancel", "new"), ("RP", "test", "new"), ("RX", "test", "new"),
    ("OP", "heartbeat", "new"), ("CL", "heartbeat", "new"),
]


@pytest.mark.parametrize(("code", "type_", "word"), SIA_CASES)
def test_sia_mapping(code, type_, word):
    assert dc09.sia_event(code) == (type_, word)
    message = accepted(dc09.build("SIA-DCS", 1, f"#1234|Nri1/{code}101", account="1234"))
    assert (message.event_type, message.qualifier, message.code, message.zone) == (type_, word, code, "101")


@pytest.mark.parametrize(("data", "code", "zone", "partition"), [
    ("Nri1/MA101", "MA", "101", "1"), ("NFA129", "FA", "129", None), ("Nri1BA012", "BA", "012", "1"),
    ("NNL2", "NL", "2", None), ("NL2", "NL", "2", None), ("Nid3/ri2/OP3^Door^", "OP", "3", "2"),
    ("Nri1/OP1/ri2/MA5", "MA", "5", "2"), ("Nti10:23/id01/ri1/YT", "YT", None, "1"),
])
def test_sia_data_variants(data, code, zone, partition):
    message = accepted(dc09.build("SIA-DCS", 1, f"#1234|{data}", account="1234"))
    assert (message.code, message.zone, message.partition) == (code, zone, partition)


def test_every_mapped_type_is_a_platform_event_type():
    types = {dc09.cid_event("1", f"{n:03d}")[0] for n in range(1000)} | {t for t, _ in dc09.SIA.values()}
    assert types <= set(EVENT_TYPES)


# ---------------------------------------------------------------------------- pysiaalarm, second opinion


def _pysia(frame: bytes, account: str, key: bytes | None = None) -> SIAEvent:
    accounts = {account: SIAAccount(account, key.decode() if key else None)}
    return SIAEvent.from_line(frame.decode("ascii").strip(), accounts)


@pytest.mark.parametrize("bits", [None, *sorted(KEYS)])
@pytest.mark.parametrize(("kind", "data", "code"), [
    ("ADM-CID", "#1234|1100 01 015", "MA"), ("ADM-CID", "#1234|3301 00 000", "AR"),
    ("SIA-DCS", "#1234|Nri1/MA101", "MA"), ("SIA-DCS", "#1234|Nri1/FA2", "FA"), ("NULL", "", "RP"),
])
def test_pysiaalarm_accepts_our_frames(bits, kind, data, code):
    key = KEYS[bits] if bits else None
    now = datetime.now(UTC)
    frame = dc09.build(kind, 12, data, account="1234", receiver="1", key=key, timestamp=now)
    event = _pysia(frame, "1234", key)
    assert event.valid_message and event.response == ResponseType.ACK
    assert (event.account, event.sequence, event.code, event.encrypted) == ("1234", "0012", code, bool(key))
    assert event.timestamp == now.replace(microsecond=0)
    ours = accepted(frame, key, now=now)
    assert (ours.seq, ours.account, ours.encrypted) == (event.sequence, event.account, event.encrypted)


def test_pysiaalarm_rejects_what_we_reject():
    frame = dc09.build("ADM-CID", 1, "#1234|1100 01 015", account="1234")
    broken = frame[:-3] + b"4" + frame[-2:]
    assert not _pysia(broken, "1234").valid_message
    assert rejected(broken).reason == "crc"


@pytest.mark.parametrize("bits", [None, 128])
def test_pysiaalarm_answers_pass_our_checks(bits):
    """Vice versa: the ACK / NAK that pysiaalarm builds have a CRC and length our reader accepts."""
    key = KEYS[bits] if bits else None
    frame = dc09.build("SIA-DCS", 12, "#1234|Nri1/MA101", account="1234", receiver="1", key=key,
                       timestamp=datetime.now(UTC))
    event = _pysia(frame, "1234", key)
    answer = dc09.read_frame(event.create_response())
    assert isinstance(answer, dc09.Rejection) and answer.reason == "unsupported" and answer.frame is not None
    assert (answer.frame.kind, answer.frame.seq, answer.frame.account) == ("ACK", "0012", "1234")
    stale = dc09.build("SIA-DCS", 13, "#1234|Nri1/MA101", account="1234", key=key,
                       timestamp=datetime.now(UTC) - timedelta(minutes=5))
    nak = _pysia(stale, "1234", key).create_response()
    assert nak.startswith(b"\n") and dc09.crc16(nak[9:-1]) == int(nak[1:5], 16) and b'"NAK"0000' in nak


# ------------------------------------------------------------------------------------ hostile input

SAMPLE_FRAMES = [
    dc09.build("ADM-CID", 1, "#1234|1100 01 015", account="1234", receiver="1", timestamp=NOW),
    dc09.build("SIA-DCS", 2, "#1234|Nri1/MA101", account="1234", xdata=("X1.5", "Y2.5"), timestamp=NOW),
    dc09.build("SIA-DCS", 3, "#1234|Nri1/FA2", account="1234", key=KEYS[128], timestamp=NOW),
    dc09.build("ADM-CID", 4, "#1234|1602 00 000", account="1234", key=KEYS[256], timestamp=NOW),
    dc09.build("NULL", 5, account="1234", binary_crc=True),
    dc09.build("ADM-CID", 6, "#1234|1654 01 001", account="1234", binary_crc=True),
]
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _parse_any(raw: bytes) -> dc09.Message | dc09.Rejection:
    return parse(raw, KEYS[128] if b'"*SIA' in raw else KEYS[256])


@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_are_rejected_without_raising(raw):
    assert isinstance(_parse_any(raw), dc09.Rejection)
    assert isinstance(_parse_any(b"\n" + raw + b"\r"), dc09.Rejection)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[bytes, bytes]:
    original = draw(st.sampled_from(SAMPLE_FRAMES))
    data = bytearray(original)
    at = draw(st.integers(0, len(data) - 1))
    action = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "duplicate"]))
    if action == "replace":
        data[at] = draw(st.integers(0, 255).filter(lambda b: b != original[at]))
    elif action == "insert":
        data[at:at] = draw(st.binary(min_size=1, max_size=8))
    elif action == "delete":
        del data[at: at + draw(st.integers(1, 8))]
    elif action == "truncate":
        del data[at:]
    else:
        data[at:at] = data[at: at + draw(st.integers(1, 20))]
    return original, bytes(data)


@settings(max_examples=2000, deadline=None, database=None)
@given(mutations())
def test_mutated_frames_never_make_an_event(case):
    original, mutated = case
    assume(mutated != original)
    result = _parse_any(mutated)
    if isinstance(result, dc09.Message):
        # Only an upper/lower case change of a hex digit of the CRC or length field reads the same.
        diff = [i for i in range(len(original)) if original[i] != mutated[i]] if len(original) == len(mutated) else []
        assert len(diff) == 1 and diff[0] < 9 and mutated[diff[0]] in HEX_DIGITS, (original, mutated)
        assert replace(result, raw="") == replace(_parse_any(original), raw="")


TEXT = st.text(alphabet='"*SIA-DCSADM-CIDNUL0123456789RL#[]|_:,-ABCDEFNriMAFO/^ X.Yabc', max_size=120)


@settings(max_examples=2000, deadline=None, database=None)
@given(st.one_of(TEXT, st.builds(lambda a, b: a + b, st.sampled_from(
    ['"SIA-DCS"0001L0#1234[', '"ADM-CID"0001R1L0#1234[#1234|', '"NULL"0000L0[', '"*SIA-DCS"0001L0#1234[',
     '"SIA-DCS"0001L0#1234[#1234|N']), TEXT)), st.booleans())
def test_well_framed_random_messages_never_raise(text, binary_crc):
    result = _parse_any(dc09.wrap(text, binary_crc=binary_crc))
    assert isinstance(result, dc09.Message | dc09.Rejection)
    if isinstance(result, dc09.Message):
        assert result.event_type in EVENT_TYPES


def test_random_key_lengths_never_raise():
    rng = random.Random(9)
    frame = SAMPLE_FRAMES[2]
    for size in range(40):
        key = bytes(rng.randrange(256) for _ in range(size))
        assert isinstance(parse(frame, key), dc09.Rejection)
